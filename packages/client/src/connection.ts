import {
  CloseCode,
  ErrorCode,
  HubbubError,
  closeClassOf,
  type AuthFrame,
  type ClientFrame,
  type ConnectedFrame,
  type ServerFrame,
} from '@hubbub/protocol';
import { systemClock, type Clock } from './clock.js';
import { DEFAULTS } from './defaults.js';
import { Emitter } from './emitter.js';

export type ConnectionState = 'initialized' | 'connecting' | 'connected' | 'disconnected' | 'closed' | 'failed';

export interface ConnectionStateChange {
  current: ConnectionState;
  previous: ConnectionState;
  /** Why the connection left its previous state, when there is a reason to give. */
  reason?: HubbubError;
  /** In `disconnected`: milliseconds until the next attempt. */
  retryIn?: number;
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

/** What an authCallback may hand back: the token itself, or an object carrying it (what `POST /auth/token` answers). */
export type AuthCallbackResult = string | { token: string };
export type AuthCallback = () => Promise<AuthCallbackResult> | AuthCallbackResult;

export interface ConnectionOptions {
  endpoint: string;
  token?: string;
  authCallback?: AuthCallback;
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
  clock?: Clock;
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
  onReply?: (reply: ServerFrame) => void;
}

export interface RequestOptions {
  /** Resend after a reconnect instead of failing (default false). */
  resend?: boolean;
  /** Wait in the queue while not connected (default true); false refuses at once. */
  queue?: boolean;
  /**
   * Called with the reply as it is read, before any later frame: a socket's frames can all be read in
   * one go, and a promise's continuation would only run after the frames that followed the reply.
   */
  onReply?: (reply: ServerFrame) => void;
}

const OPEN = 1;

/**
 * One logical connection over a series of sockets: authenticates, correlates requests with replies,
 * keeps the socket alive, renews tokens, and after a close does what the close code's class says
 * (`@hubbub/protocol` close codes): reconnect now, back off, renew the token first, or stop.
 */
export class Connection {
  state: ConnectionState = 'initialized';
  id?: string;
  clientId?: string;
  errorReason?: HubbubError;
  /** Largest frame the server takes (from `connected`): bigger requests are refused here with 41300. */
  maxFrameBytes?: number;
  readonly events = new Emitter<ConnectionStateChange>();
  /** Counts sockets: a reply or failure from an earlier socket is told apart from the current one's. */
  generation = 0;
  /** Called for every frame that is not a reply to a request. */
  onFrame: (frame: ServerFrame) => void = () => {};
  /** Called on each `connected`, before queued requests are flushed. */
  onConnected: (resumed: boolean) => void = () => {};
  /** Called when a socket is lost (before any retry). */
  onDisconnected: () => void = () => {};

  private readonly clock: Clock;
  private socket?: WebSocketLike;
  private token?: string;
  private nextId = 1;
  /** In request order: a reconnect resends in the order the app asked. */
  private readonly pending = new Map<number, PendingRequest>();
  private readonly queued: PendingRequest[] = [];
  private attempt = 0;
  /** Renewals in a row that did not end in `connected`. */
  private renewals = 0;
  /** An error frame the server sent about this socket before closing it (e.g. 40101). */
  private closingError?: HubbubError;
  private retryTimer?: unknown;
  private stableTimer?: unknown;
  private connectTimer?: unknown;
  /** The id to resume on the next socket: the last connection's, unless the app closed it. */
  private resumeId?: string;
  private keepAliveTimer?: unknown;
  private renewTimer?: unknown;
  private keepAliveMs = 0;
  private lastReceived = 0;
  private lastSent = 0;

  constructor(private readonly options: ConnectionOptions) {
    this.token = options.token;
    this.clock = options.clock ?? systemClock;
  }

  /** Reconnect attempts since the last successful connect. */
  get attempts(): number {
    return this.attempt;
  }

  connect(): void {
    if (this.state === 'connected' || this.state === 'connecting') return;
    if (this.state === 'closed' || this.state === 'failed') {
      this.attempt = 0;
      this.renewals = 0;
    }
    this.clock.clearTimeout(this.retryTimer);
    this.setState('connecting');
    void this.open();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.stopTimers();
    this.resumeId = undefined; // closed on purpose: the next connect is a new connection
    this.dropSocket(CloseCode.Normal, 'closed by client');
    this.failAll(new HubbubError(ErrorCode.Unavailable, 'connection closed'));
    this.setState('closed');
  }

  /**
   * Send a request and wait for its reply. While not connected it waits in the queue unless
   * `queue` is false, in which case it is refused at once.
   */
  request(body: RequestBody, { resend = false, queue = true, onReply }: RequestOptions = {}): Promise<ServerFrame> {
    if (this.state === 'closed' || this.state === 'failed') {
      return Promise.reject(this.errorReason ?? new HubbubError(ErrorCode.Unavailable, `connection is ${this.state}`));
    }
    return new Promise((resolve, reject) => {
      const req: PendingRequest = { body, resolve, reject, resend, onReply };
      if (this.state === 'connected') this.transmit(req);
      else if (queue) this.queued.push(req);
      else reject(new HubbubError(ErrorCode.Unavailable, `not connected (${this.state})`));
    });
  }

  private transmit(req: PendingRequest): void {
    const id = this.nextId++;
    const text = JSON.stringify({ ...req.body, id });
    const tooBig = this.oversize(text);
    if (tooBig) return req.reject(tooBig);
    this.pending.set(id, req);
    this.sendText(text);
  }

  /** A frame over the server's limit would get the socket closed (1009): refuse it here instead. */
  private oversize(text: string): HubbubError | undefined {
    const limit = this.maxFrameBytes;
    if (!limit || text.length * 3 <= limit) return undefined;
    const bytes = text.length > limit ? text.length : new TextEncoder().encode(text).length;
    if (bytes <= limit) return undefined;
    return new HubbubError(ErrorCode.TooLarge, `frame of ${bytes} bytes is over the server's limit of ${limit}`);
  }

  private sendFrame(frame: ClientFrame): void {
    this.sendText(JSON.stringify(frame));
  }

  private sendText(text: string): void {
    if (this.socket?.readyState !== OPEN) return;
    this.lastSent = this.clock.now();
    this.socket.send(text);
  }

  private async open(): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.currentToken();
    } catch (err) {
      return this.authCallbackFailed(err);
    }
    if (this.state !== 'connecting') return;
    let socket: WebSocketLike;
    try {
      socket = new this.options.WebSocket(this.options.endpoint);
    } catch (err) {
      return this.fail(new HubbubError(ErrorCode.BadFrame, `cannot open ${this.options.endpoint}: ${(err as Error).message}`));
    }
    this.generation++;
    this.socket = socket;
    this.closingError = undefined;
    // A socket that neither opens nor fails (a black-holed network) must not leave us connecting forever.
    this.clock.clearTimeout(this.connectTimer);
    this.connectTimer = this.clock.setTimeout(() => {
      if (this.socket !== socket || this.state !== 'connecting') return;
      this.dropSocket(CloseCode.Normal, 'connect timeout');
      this.socketClosed(1006, 'connect timeout');
    }, DEFAULTS.connectTimeoutMs);
    socket.onopen = () => {
      if (this.socket === socket) this.sendAuth(token);
    };
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      this.lastReceived = this.clock.now();
      this.receive(String(ev.data));
    };
    socket.onerror = () => {};
    socket.onclose = (ev) => {
      if (this.socket === socket) this.socketClosed(ev.code, ev.reason);
    };
  }

  /** The token REST calls should carry: the socket's current one, fetched through authCallback when there is none yet. */
  async currentTokenForRest(): Promise<string> {
    try {
      const token = await this.currentToken();
      if (token) return token;
    } catch (err) {
      throw err instanceof CallbackFailure ? err.error : err;
    }
    throw new HubbubError(ErrorCode.BadAuth, 'no token: REST calls need a token or an authCallback');
  }

  private async currentToken(): Promise<string | undefined> {
    const callback = this.options.authCallback;
    if (this.token || !callback) return this.token;
    let result: unknown;
    try {
      result = await callback();
    } catch (err) {
      throw new CallbackFailure(err);
    }
    return (this.token = tokenOf(result));
  }

  /**
   * No token: the authCallback threw (its backend may be down: retry a few times with backoff, then
   * fail), or it returned something that is not a token (a bug no retry mends: fail at once).
   */
  private authCallbackFailed(err: unknown): void {
    if (this.state !== 'connecting') return;
    if (!(err instanceof CallbackFailure)) return this.fail(err instanceof HubbubError ? err : new HubbubError(ErrorCode.BadAuth, String(err)));
    if (++this.renewals > DEFAULTS.maxRenewals) return this.fail(err.error);
    this.retry(err.error, this.backoffDelay());
  }

  private sendAuth(token: string | undefined): void {
    const frame: AuthFrame = { t: 'auth' };
    if (token) frame.token = token;
    else if (this.options.key) frame.key = this.options.key;
    if (this.options.clientId) frame.clientId = this.options.clientId;
    if (this.resumeId) frame.resumeConnectionId = this.resumeId;
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
        // About one channel (e.g. a renewed token no longer allows it): for the channel, not the connection.
        if (frame.channel !== undefined) return this.onFrame(frame);
        return this.connectionError(new HubbubError(frame.code, frame.message));
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
    if (frame.t === 'err') return req.reject(new HubbubError(frame.code, frame.message));
    req.onReply?.(frame);
    req.resolve(frame);
  }

  private connected(frame: ConnectedFrame): void {
    if (this.options.authCallback && this.clientId !== undefined && frame.clientId !== this.clientId) {
      // A renewed token for someone else: carrying on would quietly change who this connection is.
      return this.fail(
        new HubbubError(ErrorCode.BadAuth, `authCallback returned a token for client ${JSON.stringify(frame.clientId)}; this connection is ${JSON.stringify(this.clientId)}`),
      );
    }
    this.scheduleRenewal(frame.expiresAt);
    if (this.state === 'connected') {
      this.errorReason = undefined; // an in-band renewal was accepted
      return;
    }
    this.clock.clearTimeout(this.connectTimer);
    const resumed = this.resumeId !== undefined && this.resumeId === frame.connectionId;
    this.id = this.resumeId = frame.connectionId;
    this.clientId = frame.clientId;
    this.maxFrameBytes = frame.maxFrameBytes;
    this.errorReason = undefined;
    // The counts of attempts and renewals start again only once this connection proves it holds: a
    // server that accepts and closes at once must still meet the backoff and the renewal limit.
    this.clock.clearTimeout(this.stableTimer);
    this.stableTimer = this.clock.setTimeout(() => {
      this.attempt = 0;
      this.renewals = 0;
    }, DEFAULTS.stableConnectionMs);
    this.startKeepAlive(frame.keepAliveMs);
    this.setState('connected');
    this.onConnected(resumed);
    // Requests from before the drop first, in the order they were made, then the queue.
    const again = [...this.queued];
    this.queued.length = 0;
    for (const req of again) this.transmit(req);
  }

  /** An error frame not tied to a request: the server speaks about the connection itself. */
  private connectionError(error: HubbubError): void {
    this.errorReason = error;
    // Before `connected` the server closes right after: the close code decides what comes next.
    if (this.state !== 'connected') {
      this.closingError = error;
      return;
    }
    if (error.code === ErrorCode.AuthExpired) void this.renewInBand();
  }

  /** Fetch a fresh token and send it on the live socket; the server keeps the connection and its state. */
  private async renewInBand(): Promise<void> {
    if (!this.options.authCallback || this.state !== 'connected') return;
    const socket = this.socket;
    this.token = undefined;
    let token: string | undefined;
    try {
      token = await this.currentToken();
    } catch (err) {
      // The server closes once the grace period is over; that close retries the callback.
      this.errorReason = err instanceof CallbackFailure ? err.error : (err as HubbubError);
      return;
    }
    if (this.socket === socket && this.state === 'connected') this.sendAuth(token);
  }

  /**
   * Renew a little before the token runs out, so the connection never sits in the expiry grace period;
   * never sooner than `minRenewIntervalMs` after the last token, so a callback that hands out tokens
   * of a few milliseconds (seconds passed where milliseconds were meant) is not called in a loop.
   */
  private scheduleRenewal(expiresAt: number | undefined): void {
    this.clock.clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (!expiresAt || !this.options.authCallback) return;
    const left = expiresAt - this.clock.now();
    const lead = Math.min(DEFAULTS.renewBeforeExpiryMs, Math.max(0, left) / 10);
    this.renewTimer = this.clock.setTimeout(() => void this.renewInBand(), Math.max(DEFAULTS.minRenewIntervalMs, left - lead));
  }

  /** The socket closed: act on the close code's class. */
  private socketClosed(code: number, reasonText: string): void {
    this.socket = undefined;
    this.clock.clearTimeout(this.connectTimer);
    this.clock.clearTimeout(this.stableTimer);
    this.stopKeepAlive();
    const reason = this.closingError ?? closeError(code, reasonText);
    this.closingError = undefined;
    this.keepResends(reason);
    if (this.state === 'closed' || this.state === 'failed') return;
    this.onDisconnected();
    switch (closeClassOf(code)) {
      case 'stop':
        return this.fail(reason);
      case 'renew':
        return this.renewThenReconnect(reason);
      case 'reconnect':
        // At once, spread over [0, base): and not counted, so the backoff that may follow starts at its first step.
        if (this.attempt === 0) return this.retry(reason, this.clock.random() * this.options.reconnectBaseMs, false);
        return this.retry(reason, this.backoffDelay());
      case 'backoff':
        return this.retry(reason, this.backoffDelay());
    }
  }

  private renewThenReconnect(reason: HubbubError): void {
    if (!this.options.authCallback || ++this.renewals > DEFAULTS.maxRenewals) return this.fail(reason);
    this.token = undefined;
    this.retry(reason, this.renewals === 1 ? 0 : this.backoffDelay());
  }

  /**
   * The exponential backoff for the next attempt, with jitter, never above the cap. At the cap the
   * jitter spreads below it (80–100%), so a crowd that reached the cap does not come back at once.
   */
  private backoffDelay(): number {
    const { reconnectBaseMs, reconnectMaxMs } = this.options;
    const exp = reconnectBaseMs * 2 ** this.attempt;
    const r = this.clock.random();
    if (exp >= reconnectMaxMs) return reconnectMaxMs * (1 - DEFAULTS.reconnectJitter * r);
    return Math.min(reconnectMaxMs, exp * (1 - DEFAULTS.reconnectJitter + 2 * DEFAULTS.reconnectJitter * r));
  }

  private retry(reason: HubbubError, delay: number, counted = true): void {
    this.errorReason = reason;
    if (!this.options.autoReconnect) {
      this.setState('disconnected', reason);
      this.failAll(reason);
      return;
    }
    const max = this.options.maxReconnectAttempts;
    if (max !== undefined && this.attempt >= max) {
      return this.fail(new HubbubError(reason.code, `gave up after ${this.attempt} reconnect attempts: ${reason.message}`));
    }
    if (counted) this.attempt++;
    this.clock.clearTimeout(this.retryTimer);
    this.setState('disconnected', reason, Math.round(delay));
    this.retryTimer = this.clock.setTimeout(() => {
      if (this.state !== 'disconnected') return;
      this.setState('connecting');
      void this.open();
    }, delay);
  }

  private fail(reason: HubbubError): void {
    this.stopTimers();
    this.dropSocket(CloseCode.Normal, 'failed');
    this.errorReason = reason;
    this.failAll(reason);
    this.setState('failed', reason);
  }

  /** Requests in flight on a lost socket: publishes wait to be resent, the rest fail with the reason. */
  private keepResends(reason: HubbubError): void {
    const resend: PendingRequest[] = [];
    for (const req of this.pending.values()) {
      if (req.resend) resend.push(req);
      else req.reject(reason);
    }
    this.pending.clear();
    this.queued.unshift(...resend);
  }

  private failAll(reason: HubbubError): void {
    for (const req of this.pending.values()) req.reject(reason);
    this.pending.clear();
    for (const req of this.queued) req.reject(reason);
    this.queued.length = 0;
  }

  private dropSocket(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(code, reason);
  }

  private startKeepAlive(keepAliveMs: number): void {
    this.stopKeepAlive();
    if (!(keepAliveMs > 0)) return;
    this.keepAliveMs = keepAliveMs;
    this.lastReceived = this.clock.now();
    this.tickKeepAlive();
  }

  private tickKeepAlive(): void {
    const keepAliveMs = this.keepAliveMs;
    this.keepAliveTimer = this.clock.setTimeout(() => {
      const now = this.clock.now();
      if (now - this.lastReceived > 2 * keepAliveMs) {
        // The server has gone quiet for two intervals: treat the socket as dead.
        this.dropSocket(CloseCode.HeartbeatTimeout, 'heartbeat timeout');
        return this.socketClosed(CloseCode.HeartbeatTimeout, 'no heartbeat from server');
      }
      if (now - this.lastSent >= keepAliveMs / 2) this.sendFrame({ t: 'ping' });
      this.tickKeepAlive();
    }, Math.max(50, Math.floor(keepAliveMs / 2)));
  }

  private stopKeepAlive(): void {
    this.clock.clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
  }

  private stopTimers(): void {
    this.stopKeepAlive();
    this.clock.clearTimeout(this.retryTimer);
    this.clock.clearTimeout(this.renewTimer);
    this.clock.clearTimeout(this.connectTimer);
    this.clock.clearTimeout(this.stableTimer);
    this.retryTimer = this.renewTimer = this.connectTimer = this.stableTimer = undefined;
  }

  private setState(current: ConnectionState, reason?: HubbubError, retryIn?: number): void {
    const previous = this.state;
    if (previous === current) return;
    this.state = current;
    const change: ConnectionStateChange = { current, previous };
    if (reason) change.reason = reason;
    if (retryIn !== undefined) change.retryIn = retryIn;
    this.events.emit(current, change);
  }
}

/** The app's authCallback threw: worth retrying, unlike a callback that returns the wrong thing. */
class CallbackFailure {
  readonly error: HubbubError;
  constructor(cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    this.error = new HubbubError(ErrorCode.BadAuth, `authCallback failed: ${message}`);
  }
}

/** The token in what an authCallback returned, or a clear error naming what came back instead. */
export function tokenOf(result: unknown): string {
  if (typeof result === 'string' && result.length > 0) return result;
  const token = (result as { token?: unknown } | null)?.token;
  if (typeof result === 'object' && result !== null && typeof token === 'string' && token.length > 0) return token;
  throw new HubbubError(
    ErrorCode.BadAuth,
    `authCallback returned ${describe(result)}: return a token string or an object with a "token" field (what POST /auth/token answers)`,
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string';
  if (typeof value !== 'object') return typeof value;
  const v = value as Record<string, unknown>;
  if (typeof v.json === 'function' && 'status' in v) return `a fetch Response (status ${String(v.status)}): return await response.json() or its token`;
  if ('token' in v) return `an object whose "token" is ${v.token === null ? 'null' : typeof v.token === 'string' ? 'empty' : `a ${typeof v.token}`}, not a token string`;
  if (v.error !== undefined) return `an error: ${JSON.stringify(v.error).slice(0, 200)}`;
  const keys = Object.keys(value).slice(0, 5);
  return keys.length === 0 ? 'an empty object' : `an object with ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
}

/** The error a close stands for, from its code (auth refusals keep their auth codes). */
function closeError(code: number, reason: string): HubbubError {
  const text = `connection closed (${code}${reason ? ` ${reason}` : ''})`;
  switch (code) {
    case CloseCode.AuthRefused:
    case CloseCode.KeyRevoked:
      return new HubbubError(ErrorCode.BadAuth, text);
    case CloseCode.AuthExpired:
      return new HubbubError(ErrorCode.AuthExpired, text);
    case CloseCode.Forbidden:
    case CloseCode.Policy:
    case CloseCode.Superseded:
      return new HubbubError(ErrorCode.Forbidden, text);
    case CloseCode.TooBig:
      return new HubbubError(ErrorCode.TooLarge, text);
    default:
      return new HubbubError(ErrorCode.Unavailable, text);
  }
}
