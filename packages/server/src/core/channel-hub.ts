import { randomBytes } from 'node:crypto';
import { assertChannelName, assertClientId } from '@hubbub/protocol';
import type { Engine, StoredMessage } from './engine.js';
import { type Log, processLog } from './log.js';
import { ChannelPresence } from './presence.js';

/** Anything the hub can deliver to: a socket, an SSE stream, or a fake in a unit test. */
export interface HubConnection {
  readonly id: string;
  send(type: string, payload: unknown): void;
  /** Register a callback for when the connection closes (used by `bind`). */
  onClose(fn: () => void): void;
}

export const ChannelEvents = {
  PresenceJoin: 'presence:join',
  PresenceLeave: 'presence:leave',
  Typing: 'typing',
} as const;

export interface ChannelHubOptions {
  /** A typing indicator clears itself after this long without a refresh. Default 5000 ms. */
  typingTtlMs?: number;
  /**
   * Share events with hubs on other nodes (e.g. a `RedisEngine`): publishes, presence and typing
   * events reach their connections too. Membership queries stay per node. The hub starts the engine.
   */
  engine?: Engine;
  /** Where a relay to other nodes that failed is told (at debug). Default `processLog`. */
  log?: Log;
}

/** What crosses nodes for one hub publish. */
interface Relayed {
  payload: unknown;
  scope: PublishScope;
}

const CHANNEL_PREFIX = 'hub/';
const TOPIC_PREFIX = 'hubtopic/';

export interface PublishScope {
  /** Skip this connection (usually the sender's). */
  exceptConnId?: string;
  /** Skip every connection of this member. */
  exceptMemberId?: string;
}

interface ChannelState {
  presence: ChannelPresence;
  /** Connection id → its connection and the member it joined as. */
  connections: Map<string, { conn: HubConnection; memberId: string }>;
  typing: Map<string, ReturnType<typeof setTimeout>>;
}

/**
 * Transport-agnostic channel logic for embedders: room membership, presence reference-counted per
 * connection (the same `ChannelPresence` the server uses), typing indicators with a TTL, and
 * scoped publish. It knows nothing of sockets: a connection is anything with `id` and `send`.
 */
export class ChannelHub {
  private readonly channels = new Map<string, ChannelState>();
  /** Connection id → channels it is in, for `disconnect`. */
  private readonly memberships = new Map<string, Set<string>>();
  private readonly bound = new WeakSet<HubConnection>();
  private readonly typingTtlMs: number;
  private readonly engine?: Engine;
  private readonly log: Log;
  /** Marks this hub's own relayed publishes, so it does not deliver them twice. */
  private readonly nodeTag = `hub-${randomBytes(6).toString('base64url')}`;
  private readonly topics = new Map<string, Set<(data: unknown) => void>>();
  /** Resolves once the engine (if any) is connected. */
  readonly ready: Promise<void>;

  constructor(options: ChannelHubOptions = {}) {
    this.typingTtlMs = options.typingTtlMs ?? 5000;
    this.engine = options.engine;
    this.log = options.log ?? processLog;
    this.ready = this.engine
      ? this.engine.start({ message: (key, message) => this.fromEngine(key, message), presence: () => {} })
      : Promise.resolve();
  }

  async close(): Promise<void> {
    await this.engine?.close();
  }

  /** Node-wide topics (not channels): what createRealtime uses for broadcast and sendTo across nodes. */
  onTopic(topic: string, fn: (data: unknown) => void): () => void {
    let set = this.topics.get(topic);
    if (!set) {
      this.topics.set(topic, (set = new Set()));
      void this.engine?.listen(TOPIC_PREFIX + topic);
    }
    set.add(fn);
    return () => set!.delete(fn);
  }

  /** Tell this node's and every other node's listeners of `topic`. */
  publishTopic(topic: string, data: unknown): void {
    for (const fn of this.topics.get(topic) ?? []) fn(data);
    this.relay(TOPIC_PREFIX + topic, 'topic', data);
  }

  /** Add a connection as `memberId`; others hear `presence:join` when the member first appears. */
  join(channel: string, memberId: string, conn: HubConnection): { newlyPresent: boolean } {
    assertChannelName(channel);
    assertClientId(memberId, 'member id');
    // A connection joining again as another member first leaves as the old one (which may empty the channel).
    const previous = this.channels.get(channel)?.connections.get(conn.id);
    if (previous && previous.memberId !== memberId) this.leave(channel, previous.memberId, conn);
    const state = this.state(channel);
    if (state.connections.size === 0) void this.engine?.listen(CHANNEL_PREFIX + channel);
    state.connections.set(conn.id, { conn, memberId });
    let channels = this.memberships.get(conn.id);
    if (!channels) this.memberships.set(conn.id, (channels = new Set()));
    channels.add(channel);
    const newlyPresent = state.presence.enter(memberId, conn.id) === 'enter';
    if (newlyPresent) this.publish(channel, ChannelEvents.PresenceJoin, { channel, memberId }, { exceptMemberId: memberId });
    return { newlyPresent };
  }

  /** Remove a connection; others hear `presence:leave` when the member's last connection goes. */
  leave(channel: string, memberId: string, conn: HubConnection): { nowAbsent: boolean } {
    assertChannelName(channel);
    assertClientId(memberId, 'member id');
    const state = this.channels.get(channel);
    if (!state || state.connections.get(conn.id)?.memberId !== memberId) return { nowAbsent: false };
    state.connections.delete(conn.id);
    this.memberships.get(conn.id)?.delete(channel);
    const nowAbsent = state.presence.leave(memberId, conn.id) === 'leave';
    if (nowAbsent) {
      this.clearTyping(channel, memberId, state);
      this.publish(channel, ChannelEvents.PresenceLeave, { channel, memberId });
    }
    if (state.connections.size === 0) {
      this.channels.delete(channel);
      this.engine?.unlisten(CHANNEL_PREFIX + channel);
    }
    return { nowAbsent };
  }

  /** Remove a connection from every channel it is in. */
  disconnect(conn: HubConnection): void {
    const channels = this.memberships.get(conn.id);
    if (!channels) return;
    for (const channel of [...channels]) {
      const memberId = this.channels.get(channel)?.connections.get(conn.id)?.memberId;
      if (memberId !== undefined) this.leave(channel, memberId, conn);
    }
    this.memberships.delete(conn.id);
  }

  /** Call `disconnect` when the connection closes. */
  bind(conn: HubConnection): void {
    if (this.bound.has(conn)) return;
    this.bound.add(conn);
    conn.onClose(() => this.disconnect(conn));
  }

  /** Send to every connection in the channel, minus the scope's exceptions. Returns how many got it. */
  publish(channel: string, type: string, payload: unknown, scope: PublishScope = {}): number {
    assertChannelName(channel);
    this.relay(CHANNEL_PREFIX + channel, type, { payload, scope } satisfies Relayed);
    return this.deliverLocal(channel, type, payload, scope);
  }

  private deliverLocal(channel: string, type: string, payload: unknown, scope: PublishScope): number {
    const state = this.channels.get(channel);
    if (!state) return 0;
    let delivered = 0;
    for (const { conn, memberId } of state.connections.values()) {
      if (conn.id === scope.exceptConnId || memberId === scope.exceptMemberId) continue;
      conn.send(type, payload);
      delivered++;
    }
    return delivered;
  }

  presence(channel: string): string[] {
    return this.channels.get(channel)?.presence.list().map((m) => m.clientId) ?? [];
  }

  isPresent(channel: string, memberId: string): boolean {
    return this.channels.get(channel)?.presence.has(memberId) ?? false;
  }

  memberCount(channel: string): number {
    return this.channels.get(channel)?.presence.size ?? 0;
  }

  connectionCount(channel: string): number {
    return this.channels.get(channel)?.connections.size ?? 0;
  }

  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  /** Broadcast `typing` to the others; `typing: true` clears itself after `typingTtlMs`. */
  setTyping(channel: string, memberId: string, typing: boolean, conn?: HubConnection): void {
    assertChannelName(channel);
    assertClientId(memberId, 'member id');
    const state = this.channels.get(channel);
    if (!state || !state.presence.has(memberId)) return;
    const timer = state.typing.get(memberId);
    clearTimeout(timer);
    if (typing) {
      const t = setTimeout(() => this.clearTyping(channel, memberId, state), this.typingTtlMs);
      (t as { unref?: () => void }).unref?.();
      state.typing.set(memberId, t);
      // A refresh of an indicator already shown is not news to the others.
      if (timer === undefined) this.announceTyping(channel, memberId, true, conn);
    } else if (timer !== undefined) {
      state.typing.delete(memberId);
      this.announceTyping(channel, memberId, false, conn);
    }
  }

  typingMembers(channel: string): string[] {
    return [...(this.channels.get(channel)?.typing.keys() ?? [])];
  }

  private relay(key: string, name: string, data: unknown): void {
    if (!this.engine) return;
    const messageId = randomBytes(9).toString('base64url');
    void this.engine
      .publish(key, { name, data, messageId, clientId: this.nodeTag, ephemeral: true })
      .catch((err) => this.log.debug({ err, key }, 'relay to other nodes failed (engine unavailable): their connections miss this event, this node delivered it'));
  }

  private fromEngine(key: string, message: StoredMessage): void {
    if (message.clientId === this.nodeTag) return;
    if (key.startsWith(TOPIC_PREFIX)) {
      for (const fn of this.topics.get(key.slice(TOPIC_PREFIX.length)) ?? []) fn(message.data);
      return;
    }
    const { payload, scope } = message.data as Relayed;
    this.deliverLocal(key.slice(CHANNEL_PREFIX.length), message.name, payload, scope ?? {});
  }

  private clearTyping(channel: string, memberId: string, state: ChannelState): void {
    const timer = state.typing.get(memberId);
    if (timer === undefined) return;
    clearTimeout(timer);
    state.typing.delete(memberId);
    this.announceTyping(channel, memberId, false);
  }

  private announceTyping(channel: string, memberId: string, typing: boolean, conn?: HubConnection): void {
    this.publish(channel, ChannelEvents.Typing, { channel, memberId, typing }, { exceptMemberId: memberId, exceptConnId: conn?.id });
  }

  private state(channel: string): ChannelState {
    let state = this.channels.get(channel);
    if (!state) {
      state = { presence: new ChannelPresence(), connections: new Map(), typing: new Map() };
      this.channels.set(channel, state);
    }
    return state;
  }
}
