import {
  ErrorCode,
  HubbubError,
  type AuthFrame,
  type ClientFrame,
  type ConnectedFrame,
  type ServerFrame,
} from '@hubbub/protocol';
import { Emitter } from './emitter.js';

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed' | 'failed';

export interface ConnectionStateChange {
  current: ConnectionState;
  previous: ConnectionState;
  /** Why the connection left its previous state, when there is a reason to give. */
  reason?: HubbubError;
}

/** The part of a WebSocket the SDK uses: the browser's and `ws`'s both fit. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ConnectionOptions {
  endpoint: string;
  token?: string;
  authCallback?: () => Promise<string>;
  key?: string;
  clientId?: string;
  autoReconnect: boolean;
  echoMessages: boolean;
  WebSocket: WebSocketConstructor;
  /** First reconnect delay; doubles per attempt. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Give up (state `failed`) after this many reconnect attempts in a row. Default: never. */
  maxReconnectAttempts?: number;
}

/** Frames that wait for an `ack` (or typed reply) from the server. */
export type RequestFrame = Exclude<ClientFrame, { t: 'auth' } | { t: 'ping' }>;
type WithoutId<F> = F extends unknown ? Omit<F, 'id'> : never;
export type RequestBody = WithoutId<RequestFrame>;

interface PendingRequest {
  body: RequestBody;
  resolve(reply: ServerFrame): void;
  reject(err: HubbubError): void;
  /** Resent after a reconnect (publishes: the stable messageId makes the resend safe). */
  resend: boolean;
}

const OPEN = 1;

/**
 * One logical connection over a series of sockets: authenticates, correlates requests with
 * replies, keeps the socket alive, and reconnects with exponential backoff and jitter.
 */
export class Connection {
  state: ConnectionState = 'connecting';
  id?: string;
  clientId?: string;
  errorReason?: HubbubError;
  readonly events = new Emitter<ConnectionStateChange>();
  /** Reconnect attempts since the last successful connect. */
  get attempts(): number {
    return this.attempt;
  }
  /** Called for every frame that is not a reply to a request. */
  onFrame: (frame: ServerFrame) => void = () => {};
  /** Called on each `connected`, before queued requests are flushed. */
  onConnected: (resumed: boolean) => void = () => {};

  private socket?: WebSocketLike;
  private token?: string;
  private nextId = 1;
  /** In request order: a reconnect resends in the order the app asked. */
  private readonly pending = new Map<number, PendingRequest>();
  private readonly queued: PendingRequest[] = [];
  private attempt = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private keepAliveTimer?: ReturnType<typeof setInterval>;
  private lastReceived = 0;
  private lastSent = 0;
  private authRetries = 0;

  constructor(private readonly options: ConnectionOptions) {
    this.token = options.token;
  }

  connect(): void {
    if (this.state === 'connected' || this.socket) return;
    if (this.state === 'closed' || this.state === 'failed') this.attempt = 0;
    this.setState('connecting');
    void this.open();
  }

  close(): void {
    if (this.state === 'closed') return;
    clearTimeout(this.reconnectTimer);
    this.stopKeepAlive();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, 'closed by client');
    this.failAll(new HubbubError(ErrorCode.Unavailable, 'connection closed'));
    this.setState('closed');
  }

  /**
   * Send a request and wait for its reply. While not connected it waits in the queue unless
   * `queue` is false, in which case it is refused at once.
   */
  request(body: RequestBody, { resend = false, queue = true } = {}): Promise<ServerFrame> {
    if (this.state === 'closed' || this.state === 'failed') {
      return Promise.reject(this.errorReason ?? new HubbubError(ErrorCode.Unavailable, `connection is ${this.state}`));
    }
    return new Promise((resolve, reject) => {
      const req: PendingRequest = { body, resolve, reject, resend };
      if (this.state === 'connected') this.transmit(req);
      else if (queue) this.queued.push(req);
      else reject(new HubbubError(ErrorCode.Unavailable, `not connected (${this.state}) and queueMessages is false`));
    });
  }

  private transmit(req: PendingRequest): void {
    const id = this.nextId++;
    this.pending.set(id, req);
    this.sendFrame({ ...req.body, id } as ClientFrame);
  }

  private sendFrame(frame: ClientFrame): void {
    if (this.socket?.readyState !== OPEN) return;
    this.lastSent = Date.now();
    this.socket.send(JSON.stringify(frame));
  }

  private async open(): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.currentToken();
    } catch (err) {
      return this.lost(new HubbubError(ErrorCode.BadAuth, `authCallback failed: ${(err as Error)?.message ?? err}`));
    }
    if (this.state !== 'connecting') return;
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(this.options.endpoint);
    } catch (err) {
      return this.lost(new HubbubError(ErrorCode.Unavailable, `cannot open ${this.options.endpoint}: ${(err as Error).message}`));
    }
    this.socket = socket;
    socket.onopen = () => this.sendAuth(token);
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      this.lastReceived = Date.now();
      this.receive(String(ev.data));
    };
    socket.onerror = () => {};
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.lost(new HubbubError(ErrorCode.Unavailable, `connection lost (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`));
    };
  }

  private async currentToken(): Promise<string | undefined> {
    if (!this.token && this.options.authCallback) this.token = await this.options.authCallback();
    return this.token;
  }

  private sendAuth(token: string | undefined): void {
    const frame: AuthFrame = { t: 'auth' };
    if (token) frame.token = token;
    else if (this.options.key) frame.key = this.options.key;
    if (this.options.clientId) frame.clientId = this.options.clientId;
    if (this.id) frame.resumeConnectionId = this.id;
    if (!this.options.echoMessages) frame.echo = false;
    this.sendFrame(frame);
  }

  private receive(text: string): void {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.t) {
      case 'connected':
        return this.connected(frame);
      case 'pong':
        return;
      case 'err':
        if (frame.id !== undefined) return this.settle(frame.id, frame);
        return void this.connectionError(frame.code, frame.message);
      case 'ack':
      case 'histRes':
      case 'fetchRes':
        return this.settle(frame.id, frame);
      default:
        this.onFrame(frame);
    }
  }

  private settle(id: number, frame: ServerFrame): void {
    const req = this.pending.get(id);
    if (!req) return;
    this.pending.delete(id);
    if (frame.t === 'err') req.reject(new HubbubError(frame.code, frame.message));
    else req.resolve(frame);
  }

  private connected(frame: ConnectedFrame): void {
    const renewal = this.state === 'connected';
    this.authRetries = 0;
    if (renewal) return;
    const resumed = this.id !== undefined && this.id === frame.connectionId;
    this.id = frame.connectionId;
    this.clientId = frame.clientId;
    this.attempt = 0;
    this.errorReason = undefined;
    this.startKeepAlive(frame.keepAliveMs);
    this.setState('connected');
    this.onConnected(resumed);
    // Requests from before the drop first, in the order they were made, then the queue.
    const again = [...this.queued];
    this.queued.length = 0;
    for (const req of again) this.transmit(req);
  }

  /** An error frame not tied to a request: the server speaks about the connection itself. */
  private async connectionError(code: number, message: string): Promise<void> {
    const error = new HubbubError(code, message);
    const renewable = code === ErrorCode.AuthExpired || (code === ErrorCode.BadAuth && this.state === 'connecting');
    if (renewable && this.options.authCallback && this.authRetries < 3) {
      this.authRetries++;
      this.token = undefined;
      try {
        const token = await this.currentToken();
        this.sendAuth(token);
        return;
      } catch (err) {
        return this.fail(new HubbubError(ErrorCode.BadAuth, `authCallback failed: ${(err as Error)?.message ?? err}`));
      }
    }
    if (code === ErrorCode.BadAuth || code === ErrorCode.AuthExpired) {
      if (this.state === 'connecting') return this.fail(error);
      // Connected and the token ran out with no way to renew: the server will close; so do we.
      this.errorReason = error;
      return;
    }
    this.errorReason = error;
  }

  private fail(reason: HubbubError): void {
    clearTimeout(this.reconnectTimer);
    this.stopKeepAlive();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, 'failed');
    this.errorReason = reason;
    this.failAll(reason);
    this.setState('failed', reason);
  }

  /** The socket is gone. Keep what must be resent; retry later unless told not to. */
  private lost(reason: HubbubError): void {
    this.stopKeepAlive();
    if (this.state === 'closed' || this.state === 'failed') return;
    const resend: PendingRequest[] = [];
    for (const req of this.pending.values()) {
      if (req.resend) resend.push(req);
      else req.reject(reason);
    }
    this.pending.clear();
    this.queued.unshift(...resend);
    this.errorReason = reason;
    if (this.state !== 'disconnected') this.setState('disconnected', reason);
    if (!this.options.autoReconnect) {
      this.failAll(reason);
      return;
    }
    if (this.options.maxReconnectAttempts !== undefined && this.attempt >= this.options.maxReconnectAttempts) {
      return this.fail(new HubbubError(ErrorCode.Unavailable, `gave up after ${this.attempt} reconnect attempts: ${reason.message}`));
    }
    const exp = Math.min(this.options.reconnectMaxMs, this.options.reconnectBaseMs * 2 ** this.attempt);
    const delay = Math.min(this.options.reconnectMaxMs, exp * (0.8 + Math.random() * 0.4));
    this.attempt++;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (this.state !== 'disconnected') return;
      this.setState('connecting');
      void this.open();
    }, delay);
  }

  private failAll(reason: HubbubError): void {
    for (const req of this.pending.values()) req.reject(reason);
    this.pending.clear();
    for (const req of this.queued) req.reject(reason);
    this.queued.length = 0;
  }

  private startKeepAlive(keepAliveMs: number): void {
    this.stopKeepAlive();
    if (!(keepAliveMs > 0)) return;
    this.lastReceived = Date.now();
    const tick = Math.max(50, Math.floor(keepAliveMs / 2));
    this.keepAliveTimer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastReceived > 2 * keepAliveMs) {
        // The server has gone quiet for two intervals: treat the socket as dead.
        const socket = this.socket;
        this.socket = undefined;
        socket?.close(4000, 'heartbeat timeout');
        this.lost(new HubbubError(ErrorCode.Unavailable, 'no heartbeat from server'));
      } else if (now - this.lastSent >= keepAliveMs / 2) {
        this.sendFrame({ t: 'ping' });
      }
    }, tick);
    (this.keepAliveTimer as { unref?: () => void }).unref?.();
  }

  private stopKeepAlive(): void {
    clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
  }

  private setState(current: ConnectionState, reason?: HubbubError): void {
    const previous = this.state;
    if (previous === current) return;
    this.state = current;
    this.events.emit(current, reason ? { current, previous, reason } : { current, previous });
  }
}
