import { CloseCode, ErrorCode, HubbubError, closeClassOf, type ClientFrame, type ConnectedFrame, type ServerFrame } from '@hubbub/protocol';
import { CallbackFailure, TokenSource, authFrame, renewalDelay, type AuthCallback } from './auth-token.js';
import { systemClock, type Clock } from './clock.js';
import type { ConnectionState, ConnectionStateChange } from './connection-state.js';
import { DEFAULTS } from './defaults.js';
import { Emitter } from './emitter.js';
import { heartbeat, type Heartbeat } from './heartbeat.js';
import { outbox, type Outbox, type PendingRequest, type RequestBody, type RequestOptions } from './outbox.js';
import { RetryCounts, backoffDelay, closeError } from './reconnect-policy.js';
import { OPEN, type WebSocketConstructor, type WebSocketLike } from './websocket.js';

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

/**
 * The state machine of one logical connection over a series of sockets: authenticates, renews tokens,
 * and after a close does what the close code's class says (reconnect now, back off, renew the token
 * first, or stop). Its parts: Outbox (requests), Heartbeat, TokenSource, reconnect-policy.ts (retries).
 */
export class Connection {
  state: ConnectionState = 'initialized';
  id?: string;
  clientId?: string;
  errorReason?: HubbubError;
  readonly events = new Emitter<ConnectionStateChange>();
  /** Counts sockets: a reply or failure from an earlier socket is told apart from the current one's. */
  generation = 0;
  /** Called for every frame that is not a reply to a request. */
  onFrame: (frame: ServerFrame) => void = () => {};
  /** Called on each `connected`, before queued requests are flushed. */
  onConnected: (resumed: boolean) => void = () => {};
  /** Called when a socket is lost (before any retry). */
  onDisconnected: () => void = () => {};
  /** The token the socket and REST calls carry. */
  readonly tokens: TokenSource;

  private readonly clock: Clock;
  private readonly outbox: Outbox;
  private readonly heartbeat: Heartbeat;
  private readonly retries: RetryCounts;
  private socket?: WebSocketLike;
  /** An error frame the server sent about this socket before closing it (e.g. 40101). */
  private closingError?: HubbubError;
  private retryTimer?: unknown;
  private connectTimer?: unknown;
  /** The id to resume on the next socket: the last connection's, unless the app closed it. */
  private resumeId?: string;
  private renewTimer?: unknown;

  constructor(private readonly options: ConnectionOptions) {
    this.tokens = new TokenSource(options.token, options.authCallback);
    this.clock = options.clock ?? systemClock;
    this.outbox = outbox((text) => this.sendText(text));
    this.retries = new RetryCounts(this.clock);
    const ping = () => this.sendFrame({ t: 'ping' });
    this.heartbeat = heartbeat(this.clock, ping, () => {
      this.dropSocket(CloseCode.HeartbeatTimeout, 'heartbeat timeout');
      this.socketClosed(CloseCode.HeartbeatTimeout, 'no heartbeat from server');
    });
  }

  connect(): void {
    if (this.state === 'connected' || this.state === 'connecting') return;
    if (this.state === 'closed' || this.state === 'failed') this.retries.reset();
    this.clock.clearTimeout(this.retryTimer);
    this.setState('connecting');
    void this.open();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.stopTimers();
    this.resumeId = undefined; // closed on purpose: the next connect is a new connection
    this.dropSocket(CloseCode.Normal, 'closed by client');
    this.outbox.failAll(new HubbubError(ErrorCode.Unavailable, 'connection closed'));
    this.setState('closed');
  }

  /**
   * A request the server could not serve for now (50001: its engine out of reach) is asked again on
   * this same socket after a while; true when `err` is one and `again` is scheduled.
   */
  retriesUnavailable(err: HubbubError, generation: number, again: () => unknown): boolean {
    if (err.code !== ErrorCode.Bootstrap) return false;
    this.clock.setTimeout(() => this.generation === generation && this.state === 'connected' && again(), DEFAULTS.reattachDelayMs);
    return true;
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
      if (this.state === 'connected') this.outbox.transmit(req);
      // Without automatic reconnects, nothing would ever send what waits on a dropped connection.
      else if (queue && (this.options.autoReconnect || this.state !== 'disconnected')) this.outbox.queue(req);
      else reject(new HubbubError(ErrorCode.Unavailable, `not connected (${this.state})`));
    });
  }

  private sendFrame(frame: ClientFrame): void {
    this.sendText(JSON.stringify(frame));
  }

  private sendText(text: string): void {
    if (this.socket?.readyState !== OPEN) return;
    this.heartbeat.sent();
    this.socket.send(text);
  }

  private async open(): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.tokens.current();
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
      this.heartbeat.received();
      this.receive(String(ev.data));
    };
    socket.onerror = () => {}; // an error is followed by a close, and the close code says what to do
    socket.onclose = (ev) => {
      if (this.socket === socket) this.socketClosed(ev.code, ev.reason);
    };
  }

  /**
   * No token: the authCallback threw (its backend may be down: retry a few times with backoff, then
   * fail), or it returned something that is not a token (a bug no retry mends: fail at once).
   */
  private authCallbackFailed(err: unknown): void {
    if (this.state !== 'connecting') return;
    if (!(err instanceof CallbackFailure)) return this.fail(err instanceof HubbubError ? err : new HubbubError(ErrorCode.BadAuth, String(err)));
    if (!this.retries.renewal()) return this.fail(err.error);
    this.retry(err.error, this.backoff());
  }

  private sendAuth(token: string | undefined): void {
    this.sendFrame(authFrame(token, this.options, this.resumeId));
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
        if (frame.id !== undefined) return this.outbox.settle(frame.id, frame);
        // About one channel (e.g. a renewed token no longer allows it): for the channel, not the connection.
        if (frame.channel !== undefined) return this.onFrame(frame);
        return this.connectionError(new HubbubError(frame.code, frame.message));
      case 'ack':
      case 'histRes':
      case 'fetchRes':
        return this.outbox.settle(frame.id, frame);
      default:
        this.onFrame(frame);
    }
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
    this.outbox.maxFrameBytes = frame.maxFrameBytes;
    this.errorReason = undefined;
    this.retries.connected();
    this.heartbeat.start(frame.keepAliveMs);
    this.setState('connected');
    this.onConnected(resumed);
    this.outbox.flush();
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
    this.tokens.forget();
    let token: string | undefined;
    try {
      token = await this.tokens.current();
    } catch (err) {
      // The server closes once the grace period is over; that close retries the callback.
      this.errorReason = err instanceof CallbackFailure ? err.error : (err as HubbubError);
      return;
    }
    if (this.socket === socket && this.state === 'connected') this.sendAuth(token);
  }

  /** Renew in band shortly before the token expires (when there is an authCallback to renew with). */
  private scheduleRenewal(expiresAt: number | undefined): void {
    this.clock.clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    if (!expiresAt || !this.options.authCallback) return;
    this.renewTimer = this.clock.setTimeout(() => void this.renewInBand(), renewalDelay(expiresAt, this.clock.now()));
  }

  /** The socket closed: act on the close code's class. */
  private socketClosed(code: number, reasonText: string): void {
    this.socket = undefined;
    this.clock.clearTimeout(this.connectTimer);
    this.retries.lost();
    this.heartbeat.stop();
    const reason = this.closingError ?? closeError(code, reasonText);
    this.closingError = undefined;
    this.outbox.keepResends(reason);
    if (this.state === 'closed' || this.state === 'failed') return;
    this.onDisconnected();
    switch (closeClassOf(code)) {
      case 'stop':
        return this.fail(reason);
      case 'renew':
        return this.renewThenReconnect(reason);
      case 'reconnect':
        // At once, spread over [0, base): and not counted, so the backoff that may follow starts at its first step.
        if (this.retries.attempts === 0) return this.retry(reason, this.clock.random() * this.options.reconnectBaseMs, false);
        return this.retry(reason, this.backoff());
      case 'backoff':
        return this.retry(reason, this.backoff());
    }
  }

  private renewThenReconnect(reason: HubbubError): void {
    if (!this.options.authCallback || !this.retries.renewal()) return this.fail(reason);
    this.tokens.forget();
    this.retry(reason, this.retries.renewals === 1 ? 0 : this.backoff());
  }

  /** The backoff before the next attempt, from the count of attempts so far. */
  private backoff(): number {
    return backoffDelay(this.retries.attempts, this.options.reconnectBaseMs, this.options.reconnectMaxMs, this.clock.random());
  }

  private retry(reason: HubbubError, delay: number, counted = true): void {
    this.errorReason = reason;
    if (!this.options.autoReconnect) {
      this.setState('disconnected', reason);
      this.outbox.failAll(reason);
      return;
    }
    const max = this.options.maxReconnectAttempts;
    const { attempts } = this.retries;
    if (max !== undefined && attempts >= max) {
      return this.fail(new HubbubError(reason.code, `gave up after ${attempts} reconnect attempts: ${reason.message}`));
    }
    if (counted) this.retries.attempts++;
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
    this.outbox.failAll(reason);
    this.setState('failed', reason);
  }

  private dropSocket(code: number, reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(code, reason);
  }

  private stopTimers(): void {
    this.heartbeat.stop();
    this.clock.clearTimeout(this.retryTimer);
    this.clock.clearTimeout(this.renewTimer);
    this.clock.clearTimeout(this.connectTimer);
    this.retries.lost();
    this.retryTimer = this.renewTimer = this.connectTimer = undefined;
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
