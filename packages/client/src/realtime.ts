import { ErrorCode, HubbubError, assertChannelName } from '@hubbub/protocol';
import { Channel } from './channel.js';
import type { Clock } from './clock.js';
import type { AuthCallback } from './auth-token.js';
import { Connection } from './connection.js';
import type { ConnectionState, ConnectionStateChange } from './connection-state.js';
import { DEFAULTS } from './defaults.js';
import type { WebSocketConstructor } from './websocket.js';

export interface RealtimeOptions {
  /** A JWT. Or give `authCallback`, which is asked for the first token and every renewal. */
  token?: string;
  /**
   * Returns a fresh token: the token string, or an object with a `token` field (what `POST /auth/token`
   * answers). Called at start (without `token`), shortly before the token expires, on 40102, and after
   * the server refuses a token (at most 3 times in a row before the connection fails).
   */
  authCallback?: AuthCallback;
  /** API key `app.keyId:secret`: for trusted servers only, never in a browser. */
  key?: string;
  /** WebSocket URL of the server. Default `ws://localhost:3000`: set it in production. */
  endpoint?: string;
  /** Reconnect after a drop with backoff 1s, 2s, 4s… capped at 30s, with jitter. Default true. */
  autoReconnect?: boolean;
  /** Queue publishes made while connecting or down, and flush them on (re)connect. Default true. */
  queueMessages?: boolean;
  /** Client id to ask for when authenticating with a key (tokens carry their own). */
  clientId?: string;
  /** WebSocket implementation; the browser's by default, `ws` in Node. */
  WebSocket?: WebSocketConstructor;
  /** Receive this connection's own publishes. Default true. */
  echoMessages?: boolean;
  /** Enter presence again after a reconnect on channels this client had entered. Default false. */
  autoReenterPresence?: boolean;
  /** Connect at construction. Default true; otherwise call `connect()`. */
  autoConnect?: boolean;
  /** First reconnect delay in ms (default 1000) and the cap (default 30000). */
  reconnectDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** Timers and randomness, for tests that drive reconnects with a fake clock. */
  clock?: Clock;
}

export const DEFAULT_ENDPOINT = DEFAULTS.endpoint;

type StateListener = (change: ConnectionStateChange) => void;

/** The connection as users see it: state, events, `once` as a promise. */
export class ConnectionHandle {
  constructor(private readonly connection: Connection) {}

  get state(): ConnectionState {
    return this.connection.state;
  }
  get id(): string | undefined {
    return this.connection.id;
  }
  get clientId(): string | undefined {
    return this.connection.clientId;
  }
  get errorReason(): HubbubError | undefined {
    return this.connection.errorReason;
  }

  on(fn: StateListener): () => void;
  on(state: ConnectionState, fn: StateListener): () => void;
  on(a: ConnectionState | StateListener, b?: StateListener): () => void {
    return typeof a === 'function' ? this.connection.events.on(undefined, a) : this.connection.events.on(a, b!);
  }

  off(fn?: StateListener): void;
  off(state: ConnectionState, fn?: StateListener): void;
  off(a?: ConnectionState | StateListener, b?: StateListener): void {
    if (typeof a === 'function') this.connection.events.off(undefined, a);
    else this.connection.events.off(a, b);
  }

  /** Resolves when the connection is in `state` (at once if it already is). */
  once(state: ConnectionState): Promise<ConnectionStateChange> {
    if (this.connection.state === state) return Promise.resolve({ current: state, previous: state });
    return new Promise((resolve) => {
      const off = this.connection.events.on(state, (change) => {
        off();
        resolve(change);
      });
    });
  }
}

export class Channels {
  private readonly byName = new Map<string, Channel>();
  constructor(private readonly realtime: Realtime) {}

  /** The same Channel object for the same name. Invalid names throw HubbubError 40001. */
  get(name: string): Channel {
    let channel = this.byName.get(name);
    if (!channel) {
      assertChannelName(name);
      channel = new Channel(name, this.realtime);
      this.byName.set(name, channel);
    }
    return channel;
  }

  /** @internal */
  existing(name: string): Channel | undefined {
    return this.byName.get(name);
  }

  all(): IterableIterator<Channel> {
    return this.byName.values();
  }
}

let instanceCounter = 0;

export class Realtime {
  readonly channels: Channels;
  readonly connection: ConnectionHandle;
  /** @internal */
  readonly queueMessages: boolean;
  /** @internal */
  readonly autoReenterPresence: boolean;
  /** @internal */
  readonly conn: Connection;
  private readonly idPrefix: string;
  private messageCounter = 0;

  constructor(options: RealtimeOptions = {}) {
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketImpl) {
      throw new HubbubError(ErrorCode.BadFrame, 'no WebSocket implementation: pass { WebSocket } (e.g. from the "ws" package)');
    }
    if (!options.token && !options.authCallback && !options.key) {
      throw new HubbubError(ErrorCode.BadAuth, 'Realtime needs a token, an authCallback or a key');
    }
    this.queueMessages = options.queueMessages ?? true;
    this.autoReenterPresence = options.autoReenterPresence ?? false;
    this.idPrefix = `${randomId()}${(instanceCounter++).toString(36)}`;
    this.conn = new Connection({
      endpoint: options.endpoint ?? DEFAULT_ENDPOINT,
      token: options.token,
      authCallback: options.authCallback,
      key: options.key,
      clientId: options.clientId,
      autoReconnect: options.autoReconnect ?? true,
      echoMessages: options.echoMessages ?? true,
      WebSocket: WebSocketImpl,
      reconnectBaseMs: options.reconnectDelayMs ?? DEFAULTS.reconnectDelayMs,
      reconnectMaxMs: options.reconnectMaxDelayMs ?? DEFAULTS.reconnectMaxDelayMs,
      clock: options.clock,
    });
    this.connection = new ConnectionHandle(this.conn);
    this.channels = new Channels(this);
    this.conn.onFrame = (frame) => {
      if (frame.t === 'msg') this.channelFor(frame.channel)?.deliver(frame);
      else if (frame.t === 'presEvt') this.channelFor(frame.channel)?.presence.deliver(frame);
      else if (frame.t === 'err' && frame.channel !== undefined) this.channelFor(frame.channel)?.refused(new HubbubError(frame.code, frame.message));
    };
    this.conn.onConnected = () => {
      for (const channel of this.channels.all()) channel.reattach();
    };
    this.conn.onDisconnected = () => {
      for (const channel of this.channels.all()) channel.suspend();
    };
    const ended = (change: ConnectionStateChange) => {
      const reason = change.reason ?? new HubbubError(ErrorCode.Unavailable, `connection ${change.current}`);
      for (const channel of this.channels.all()) channel.end(reason);
    };
    this.conn.events.on('failed', ended);
    this.conn.events.on('closed', ended);
    if (options.autoConnect ?? true) this.conn.connect();
  }

  connect(): void {
    this.conn.connect();
  }

  close(): void {
    this.conn.close();
  }

  /** @internal A message id unique to this client and stable across resends. */
  nextMessageId(): string {
    return `${this.idPrefix}:${(this.messageCounter++).toString(36)}`;
  }

  /** Only channels the app made: a frame for any other name is dropped, not turned into a channel. */
  private channelFor(name: string): Channel | undefined {
    return this.channels.existing(name);
  }
}

function randomId(): string {
  const bytes = new Uint8Array(9);
  globalThis.crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += (b % 36).toString(36);
  return s;
}
