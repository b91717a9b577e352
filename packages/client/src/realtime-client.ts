import {
  ErrorCode,
  HubbubError,
  assertChannelName,
  assertClientId,
  parseFilter,
  type MessageFrame,
  type RealtimeEvent,
  type ServerFrame,
  type TopicFilter,
} from '@hubbub/protocol';
import type { Clock } from './clock.js';
import { tokenForRest, type AuthCallback } from './auth-token.js';
import { Connection } from './connection.js';
import { DEFAULTS } from './defaults.js';
import { Emitter } from './emitter.js';
import { SyncClient } from './sync.js';
import type { WebSocketConstructor } from './websocket.js';

export type { RealtimeEvent, TopicFilter };

export type RealtimeClientState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

export interface RealtimeClientOptions {
  /** HTTP base of the server, e.g. `http://localhost:3000`; the socket is opened on the same host. */
  url: string;
  /** A JWT; it authenticates both the socket and REST calls. Or give `authCallback`. */
  token?: string;
  /** Returns a fresh token (a string or `{ token }`), asked at start without `token` and for renewals. */
  authCallback?: AuthCallback;
  autoConnect?: boolean;
  reconnection?: boolean;
  reconnectionAttempts?: number;
  /** First reconnect delay in ms; doubles per attempt up to 30 s. */
  reconnectionDelay?: number;
  WebSocket?: WebSocketConstructor;
  /** Timers and randomness, for tests with a fake clock. */
  clock?: Clock;
}

export interface TopicSubscription {
  topic: string;
  filter?: TopicFilter;
}

export interface ConnectionEvent {
  state: RealtimeClientState;
  reason?: string;
}

type Listener = (value: any) => void;

/**
 * One client for the platform services: topic subscriptions with server-side filters, synced
 * documents, channel messaging and direct messages. Every delivery is a `RealtimeEvent`.
 */
export class RealtimeClient {
  readonly sync: SyncClient;
  readonly socketClient: SocketClient;
  private readonly conn: Connection;
  private readonly listeners = new Emitter<unknown>();
  private readonly subs = new Map<string, TopicSubscription>();
  /** @internal Channels joined through socketClient, rejoined after a reconnect. */
  readonly joined = new Set<string>();
  private nextSub = 1;
  /** Per topic: where the stream was, so a re-subscription replays what was missed. */
  private readonly cursors = new Map<string, { seq: number; epoch?: string }>();
  /** Recent event ids: a replay overlapping live delivery shows each event once. */
  private readonly seen = new Set<string>();
  private current: RealtimeClientState = 'disconnected';

  constructor(options: RealtimeClientOptions) {
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketImpl) throw new HubbubError(ErrorCode.BadFrame, 'no WebSocket implementation: pass { WebSocket }');
    if (!options.token && !options.authCallback) throw new HubbubError(ErrorCode.BadAuth, 'RealtimeClient needs a token or an authCallback');
    this.conn = new Connection({
      endpoint: options.url.replace(/^http/, 'ws').replace(/\/$/, ''),
      token: options.token,
      authCallback: options.authCallback,
      autoReconnect: options.reconnection ?? true,
      echoMessages: true,
      WebSocket: WebSocketImpl,
      reconnectBaseMs: options.reconnectionDelay ?? DEFAULTS.reconnectDelayMs,
      reconnectMaxMs: DEFAULTS.reconnectMaxDelayMs,
      maxReconnectAttempts: options.reconnectionAttempts ?? DEFAULTS.realtimeClientReconnectionAttempts,
      clock: options.clock,
    });
    this.sync = new SyncClient(options.url, () => tokenForRest(this.conn.tokens));
    this.socketClient = new SocketClient(this, this.conn);
    this.conn.events.on(undefined, (change) => {
      // A drop with no retry coming (reconnection: false) is final: disconnected, not reconnecting.
      const next = change.current === 'disconnected' && change.retryIn === undefined ? 'disconnected' : toState(change.current, this.current);
      if (next === this.current) return;
      this.current = next;
      this.listeners.emit('connection', change.reason ? { state: next, reason: change.reason.message } : { state: next });
      // A connection that gave up (a refused token, attempts used up) is an error the app should hear of.
      if (change.current === 'failed' && change.reason) this.listeners.emit('error', change.reason);
    });
    this.conn.onConnected = () => this.restore();
    this.conn.onFrame = (frame) => {
      if (frame.t === 'evt') {
        if (frame.seq !== undefined) this.advance(frame.event.topic, frame.seq);
        this.dispatch(frame.event);
      }
      else if (frame.t === 'msg') this.dispatch(socketEvent(frame));
      else if (frame.t === 'err') this.listeners.emit('error', new HubbubError(frame.code, frame.message));
    };
    if (options.autoConnect ?? true) this.connect();
  }

  get state(): RealtimeClientState {
    return this.current;
  }

  get connected(): boolean {
    return this.current === 'connected';
  }

  connect(): void {
    this.conn.connect();
    if (this.current === 'disconnected' && this.conn.state === 'connecting') {
      this.current = 'connecting';
      this.listeners.emit('connection', { state: 'connecting' });
    }
  }

  /** Close the socket; subscriptions are kept for the next `connect()`. */
  disconnect(): void {
    this.conn.close();
  }

  /** Disconnect and forget every subscription and listener. */
  destroy(): void {
    this.conn.close();
    this.subs.clear();
    this.joined.clear();
    this.listeners.off();
  }

  /** Returns the subscription id (`sub_1`, `sub_2`, …). Filtering happens on the server. */
  subscribe(subscription: TopicSubscription): string {
    assertChannelName(subscription.topic);
    const filter = parseFilter(subscription.filter);
    const id = `sub_${this.nextSub++}`;
    this.subs.set(id, { topic: subscription.topic, ...(filter ? { filter } : {}) });
    if (this.conn.state === 'connected') this.sendSubscribe(id);
    return id;
  }

  unsubscribe(id: string): void {
    if (!this.subs.delete(id)) return;
    // The server acks every tunsub; it fails only when the socket or the connection goes, which ends the
    // subscription on the server too (and restore() no longer knows it).
    if (this.conn.state === 'connected') void this.conn.request({ t: 'tunsub', sid: id }).catch(() => {});
  }

  /** `'event'`, `'event:<topic>'`, `'connection'` or `'error'`. */
  on(event: string, handler: Listener): this {
    this.listeners.on(event, handler);
    return this;
  }

  off(event: string, handler?: Listener): this {
    this.listeners.off(event, handler);
    return this;
  }

  private sendSubscribe(id: string): void {
    const sub = this.subs.get(id)!;
    const cursor = this.cursors.get(sub.topic);
    // The ack is taken as it is read, so an event read right behind it already moves the cursor.
    const onReply = (ack: ServerFrame) => {
      if (ack.t !== 'ack' || ack.seq === undefined) return;
      const known = this.cursors.get(sub.topic);
      const sameStream = known?.epoch === ack.epoch;
      this.cursors.set(sub.topic, { seq: sameStream ? Math.max(known!.seq, ack.seq) : ack.seq, epoch: ack.epoch });
    };
    this.conn
      .request(
        {
          t: 'tsub',
          sid: id,
          topic: sub.topic,
          ...(sub.filter ? { filter: sub.filter } : {}),
          ...(cursor ? { lastSerial: cursor.seq, epoch: cursor.epoch } : {}),
        },
        { onReply },
      )
      .catch((err: HubbubError) => this.listeners.emit('error', err));
  }

  private advance(topic: string, seq: number): void {
    const cursor = this.cursors.get(topic);
    if (cursor) cursor.seq = Math.max(cursor.seq, seq);
  }

  /** After every (re)connect: subscriptions and joined channels come back. */
  private restore(): void {
    for (const id of this.subs.keys()) this.sendSubscribe(id);
    for (const channel of this.joined) {
      void this.conn.request({ t: 'sub', channel }).catch((err: HubbubError) => this.listeners.emit('error', err));
    }
  }

  private dispatch(event: RealtimeEvent): void {
    if (this.seen.has(event.id)) return;
    this.seen.add(event.id);
    if (this.seen.size > DEFAULTS.seenEventIds) this.seen.delete(this.seen.values().next().value!);
    this.listeners.emit('event', event);
    this.listeners.emit(`event:${event.topic}`, event);
  }
}

/** Channel messaging and direct messages; deliveries arrive as `RealtimeEvent`s with `source: 'socket'`. */
export class SocketClient {
  constructor(
    private readonly client: RealtimeClient,
    private readonly conn: Connection,
  ) {}

  async join(channel: string): Promise<void> {
    assertChannelName(channel);
    this.client.joined.add(channel);
    if (this.conn.state === 'connected') await this.conn.request({ t: 'sub', channel });
  }

  async leave(channel: string): Promise<void> {
    this.client.joined.delete(channel);
    if (this.conn.state === 'connected') await this.conn.request({ t: 'unsub', channel });
  }

  /** Send to everyone in a channel; resolves on the server's ack. */
  async send(channel: string, type: string, payload?: unknown): Promise<void> {
    assertChannelName(channel);
    const messageId = `m_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`;
    await this.conn.request({ t: 'pub', channel, name: type, data: payload, messageId }, { resend: true });
  }

  /** Send to every connection of one client id. */
  async sendDirect(clientId: string, type: string, payload?: unknown): Promise<void> {
    assertClientId(clientId);
    await this.conn.request({ t: 'dm', to: clientId, name: type, data: payload });
  }

  on(event: string, handler: Listener): this {
    this.client.on(event, handler);
    return this;
  }
}

function socketEvent(frame: MessageFrame): RealtimeEvent {
  return {
    id: frame.messageId,
    topic: frame.channel,
    source: 'socket',
    type: frame.name,
    payload: frame.data ?? null,
    metadata: { timestamp: frame.timestamp, ...(frame.clientId ? { clientId: frame.clientId } : {}) },
  };
}

function toState(state: string, previous: RealtimeClientState): RealtimeClientState {
  if (state === 'connected') return 'connected';
  if (state === 'connecting') return previous === 'connected' || previous === 'reconnecting' ? 'reconnecting' : 'connecting';
  if (state === 'disconnected') return previous === 'connected' || previous === 'reconnecting' ? 'reconnecting' : previous;
  return 'disconnected';
}
