import { assertChannelName, assertClientId } from '@hubbub/protocol';
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
}

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

  constructor(options: ChannelHubOptions = {}) {
    this.typingTtlMs = options.typingTtlMs ?? 5000;
  }

  /** Add a connection as `memberId`; others hear `presence:join` when the member first appears. */
  join(channel: string, memberId: string, conn: HubConnection): { newlyPresent: boolean } {
    assertChannelName(channel);
    assertClientId(memberId, 'member id');
    const state = this.state(channel);
    const previous = state.connections.get(conn.id);
    if (previous && previous.memberId !== memberId) this.leave(channel, previous.memberId, conn);
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
    if (state.connections.size === 0) this.channels.delete(channel);
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
