import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { assertChannelName } from '@hubbub/protocol';
import { ChannelHub, type HubConnection } from '../core/channel-hub.js';
import { CloseCode } from '../core/close-codes.js';
import { WsTransport } from '../transport/ws.js';
import { EmbeddedSocket, type EmbeddedMessage } from '../transport/embedded-socket.js';
import type { Engine } from '../core/engine.js';
import { EventLog } from './event-log.js';
import { EMBED_HEARTBEAT_MS, MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_PAYLOAD_BYTES } from '../core/defaults.js';

export interface CreateRealtimeOptions {
  driver: 'sse' | 'websocket';
  /** SSE comment heartbeats / WebSocket pings, in ms. Default 30000. */
  heartbeat?: number;
  /** Past this many open connections, SSE answers 503 and WebSocket closes with 1013. Default 10000. */
  maxConnections?: number;
  /** Events kept for `Last-Event-ID` replay (per node). Default 1000. */
  replayBuffer?: number;
  /** Share broadcasts, `sendTo` and channel events with other nodes, e.g. `new RedisEngine({ url })`. */
  engine?: Engine;
}

export interface OutgoingEvent {
  event: string;
  data?: unknown;
  id?: string;
}

/** One SSE stream or WebSocket, as `createRealtime` hands it out. */
export interface RealtimeConnection extends HubConnection {
  readonly id: string;
  userId?: string;
  /** `send({ event, data, id? })`; also `send(event, data)`, the ChannelHub shape. */
  send(message: OutgoingEvent | string, data?: unknown): void;
  join(channel: string): void;
  leave(channel: string): void;
  close(): void;
}

export interface SseOptions {
  /** The user behind this stream, for `sendTo` and presence. */
  userId?: string;
  /** Channels to join at once (and to replay from on `Last-Event-ID`). */
  channels?: string[];
}

export interface UpgradeHooks {
  onOpen?(socket: RealtimeConnection): void;
  onMessage(socket: RealtimeConnection, message: EmbeddedMessage | string): void;
  onClose?(socket: RealtimeConnection): void;
  /** The user behind this socket, from the upgrade request. */
  userId?: string;
}

export interface ChannelHooks {
  onJoin?(socket: RealtimeConnection, userId: string | undefined): void;
  onLeave?(socket: RealtimeConnection, userId: string | undefined): void;
}

export interface RealtimeChannel {
  readonly name: string;
  join(socket: RealtimeConnection): void;
  leave(socket: RealtimeConnection): void;
  broadcast(message: OutgoingEvent): Promise<void>;
  members(): string[];
}

const encoder = new TextEncoder();

/**
 * Realtime inside a user's own server, on Web-standard `Request`/`Response`: SSE streams or
 * WebSockets, channels and presence through the same `ChannelHub` as everything else.
 */
export function createRealtime(options: CreateRealtimeOptions): Realtime {
  return new Realtime(options);
}

export class Realtime {
  readonly hub: ChannelHub;
  private readonly connections = new Map<string, RealtimeConnection>();
  private readonly byUser = new Map<string, Set<RealtimeConnection>>();
  private readonly channelHooks = new Map<string, ChannelHooks>();
  private readonly joined = new Map<string, Set<string>>();
  private readonly log: EventLog;
  private readonly heartbeat: number;
  private readonly maxConnections: number;
  private ws?: WsTransport;

  constructor(readonly options: CreateRealtimeOptions) {
    this.heartbeat = options.heartbeat ?? EMBED_HEARTBEAT_MS;
    this.maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
    this.log = new EventLog(options.replayBuffer ?? 1000);
    this.hub = new ChannelHub({ engine: options.engine });
    // Broadcasts and direct messages go through node-wide topics, so other nodes deliver them too.
    this.hub.onTopic('all', (m) => this.deliverToAll(m as OutgoingEvent));
    this.hub.onTopic('user', (m) => {
      const { userId, message } = m as { userId: string; message: OutgoingEvent };
      this.deliverToUser(userId, message);
    });
  }

  /** Resolves once the engine (if any) is connected. */
  get ready(): Promise<void> {
    return this.hub.ready;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Open an SSE stream for this request. Past `maxConnections` the response is a 503. */
  sse(request: Request, options: SseOptions = {}): { response: Response; stream: RealtimeConnection | null } {
    if (this.connections.size >= this.maxConnections) {
      return { response: new Response('too many connections', { status: 503, headers: { 'retry-after': '5' } }), stream: null };
    }
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      cancel: () => stream.close(),
    });
    const write = (text: string) => {
      try {
        controller.enqueue(encoder.encode(text));
      } catch {
        stream.close();
      }
    };
    const closeHandlers: Array<() => void> = [];
    let closed = false;
    const stream: RealtimeConnection = {
      id: randomBytes(9).toString('base64url'),
      userId: options.userId,
      send: (message, data) => write(sseFrame(normalize(message, data))),
      join: (channel) => this.join(stream, channel),
      leave: (channel) => this.leave(stream, channel),
      onClose: (fn) => (closed ? fn() : closeHandlers.push(fn)),
      close: () => {
        if (closed) return;
        closed = true;
        clearInterval(beat);
        try {
          controller.close();
        } catch {
          // already closed by the client
        }
        for (const fn of closeHandlers.splice(0)) fn();
      },
    };
    const beat = setInterval(() => write(': heartbeat\n\n'), this.heartbeat);
    beat.unref?.();
    request.signal?.addEventListener('abort', () => stream.close(), { once: true });
    this.register(stream);
    write(`retry: 2000\n: connected ${stream.id}\n\n`);
    for (const channel of options.channels ?? []) stream.join(channel);
    this.replay(stream, request.headers.get('last-event-id'), new Set(options.channels ?? []));
    const response = new Response(body, {
      headers: {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      },
    });
    return { response, stream };
  }

  /**
   * Accept a WebSocket upgrade from Node's http `upgrade` event:
   * `server.on('upgrade', (req, socket, head) => realtime.upgrade(req, hooks, socket, head))`.
   */
  upgrade(req: IncomingMessage, hooks: UpgradeHooks, socket: Duplex = req.socket, head: Buffer = Buffer.alloc(0)): void {
    this.ws ??= new WsTransport(
      {
        heartbeatMs: this.heartbeat,
        maxPayload: MAX_PAYLOAD_BYTES,
        maxBufferedBytes: MAX_BUFFERED_BYTES,
        maxConnections: Number.MAX_SAFE_INTEGER,
      },
      {
        open: (wire, request) => {
          const pending = (request as IncomingMessage & { hubbubHooks?: UpgradeHooks }).hubbubHooks!;
          const raw = new EmbeddedSocket(wire, undefined, pending.userId);
          const conn = this.wrapSocket(raw);
          if (this.connections.size >= this.maxConnections) {
            raw.close(CloseCode.TryAgainLater, 'too many connections');
            return raw;
          }
          this.register(conn);
          raw.onAnyMessage = (message) => pending.onMessage(conn, message);
          raw.onClose(() => pending.onClose?.(conn));
          pending.onOpen?.(conn);
          return raw;
        },
      },
    );
    (req as IncomingMessage & { hubbubHooks?: UpgradeHooks }).hubbubHooks = hooks;
    void this.ws.upgrade(req, socket, head);
  }

  /** Every open connection. */
  async broadcast(message: OutgoingEvent): Promise<void> {
    this.hub.publishTopic('all', message);
  }

  /** Every connection of a user (or one connection). */
  async sendTo(target: string | RealtimeConnection, message: OutgoingEvent): Promise<void> {
    if (typeof target !== 'string') return target.send(message);
    this.hub.publishTopic('user', { userId: target, message });
  }

  private deliverToAll(message: OutgoingEvent): void {
    const entry = this.log.append({ kind: 'all' }, message.event, message.data);
    for (const conn of this.connections.values()) conn.send({ ...message, id: String(entry.seq) });
  }

  private deliverToUser(userId: string, message: OutgoingEvent): void {
    const entry = this.log.append({ kind: 'user', userId }, message.event, message.data);
    for (const conn of this.byUser.get(userId) ?? []) conn.send({ ...message, id: String(entry.seq) });
  }

  /** Declare a channel's hooks; returns its handle. */
  channel(name: string, hooks: ChannelHooks = {}): RealtimeChannel {
    assertChannelName(name);
    this.channelHooks.set(name, { ...this.channelHooks.get(name), ...hooks });
    return this.toChannel(name);
  }

  toChannel(name: string): RealtimeChannel {
    assertChannelName(name);
    return {
      name,
      join: (socket) => this.join(socket, name),
      leave: (socket) => this.leave(socket, name),
      broadcast: async (message) => {
        const entry = this.log.append({ kind: 'channel', channel: name }, message.event, message.data);
        this.hub.publish(name, message.event, logged(message.data, String(entry.seq)));
      },
      members: () => this.hub.presence(name),
    };
  }

  async close(): Promise<void> {
    for (const conn of [...this.connections.values()]) conn.close();
    await this.ws?.close(1001, 'server going away');
    await this.hub.close();
  }

  private join(conn: RealtimeConnection, channel: string): void {
    this.hub.join(channel, memberOf(conn), conn);
    let channels = this.joined.get(conn.id);
    if (!channels) this.joined.set(conn.id, (channels = new Set()));
    channels.add(channel);
    this.channelHooks.get(channel)?.onJoin?.(conn, conn.userId);
  }

  private leave(conn: RealtimeConnection, channel: string): void {
    this.hub.leave(channel, memberOf(conn), conn);
    this.joined.get(conn.id)?.delete(channel);
    this.channelHooks.get(channel)?.onLeave?.(conn, conn.userId);
  }

  private register(conn: RealtimeConnection): void {
    this.connections.set(conn.id, conn);
    if (conn.userId) {
      let set = this.byUser.get(conn.userId);
      if (!set) this.byUser.set(conn.userId, (set = new Set()));
      set.add(conn);
    }
    this.hub.bind(conn);
    conn.onClose(() => {
      this.connections.delete(conn.id);
      this.joined.delete(conn.id);
      if (conn.userId) {
        const set = this.byUser.get(conn.userId);
        set?.delete(conn);
        if (set?.size === 0) this.byUser.delete(conn.userId);
      }
    });
  }

  /** Send what an SSE client missed since `Last-Event-ID`; a bad or unknown id replays nothing. */
  private replay(conn: RealtimeConnection, lastEventId: string | null, channels: Set<string>): void {
    if (lastEventId === null || !/^\d{1,15}$/.test(lastEventId)) return;
    const { events } = this.log.since(Number(lastEventId), channels, conn.userId);
    for (const e of events) conn.send({ event: e.event, data: e.data, id: String(e.seq) });
  }

  /** Adapt an EmbeddedSocket to the RealtimeConnection shape (channel messages carry their log id). */
  private wrapSocket(raw: EmbeddedSocket): RealtimeConnection {
    const conn = raw as unknown as RealtimeConnection & EmbeddedSocket;
    const send = raw.send.bind(raw);
    Object.assign(conn, {
      send: (typeOrMessage: string | OutgoingEvent, payload?: unknown) => send(normalize(typeOrMessage, payload)),
      join: (channel: string) => this.join(conn, channel),
      leave: (channel: string) => this.leave(conn, channel),
    });
    return conn;
  }
}

/**
 * A channel broadcast's payload on its way through the ChannelHub (and across nodes, as JSON),
 * with the id it was logged under.
 */
const LOGGED = 'hubbub:logged';
interface Logged {
  [LOGGED]: 1;
  data: unknown;
  id: string;
}
function logged(data: unknown, id: string): Logged {
  return { [LOGGED]: 1, data, id };
}
function isLogged(payload: unknown): payload is Logged {
  return typeof payload === 'object' && payload !== null && (payload as Logged)[LOGGED] === 1;
}

/** ChannelHub calls `send(type, payload)`; users call `send({ event, data, id })`. */
function normalize(typeOrMessage: string | OutgoingEvent, payload?: unknown): OutgoingEvent {
  if (typeof typeOrMessage !== 'string') return typeOrMessage;
  if (isLogged(payload)) return { event: typeOrMessage, data: payload.data, id: payload.id };
  return { event: typeOrMessage, data: payload };
}

function memberOf(conn: RealtimeConnection): string {
  return conn.userId ?? conn.id;
}

function sseFrame(message: OutgoingEvent): string {
  const data = JSON.stringify(message.data ?? null)
    .split('\n')
    .map((line) => `data: ${line}`)
    .join('\n');
  const id = message.id !== undefined ? `id: ${String(message.id).replace(/[\r\n]/g, '')}\n` : '';
  return `event: ${message.event.replace(/[\r\n]/g, '')}\n${id}${data}\n\n`;
}
