import { randomBytes } from 'node:crypto';
import type { PresenceMember } from '@hubbub/protocol';
import { ChannelPresence } from '../core/presence.js';
import { samePresenceData, seenByAnyone } from '../core/presence-views.js';
import type { Engine, EngineEvents, HistoryPage, HistoryQuery, MessageDraft, PresenceChange, PresenceOutcome, PresenceSync, PublishResult, Recovery, TimedPresenceMember } from '../core/engine.js';
import { MemoryEngine } from './memory.js';
import type { RetentionOptions } from './retention.js';
import { nextPresenceSerial } from './stored-message.js';

/** One channel's presence across the bus: holds keyed by node and connection (see `holdKey`). */
interface ChannelHolds {
  members: ChannelPresence;
  /** Presence serial of the last change, shared by every node. */
  pseq: number;
}

/**
 * What several `BusEngine`s share in one process, the way `RedisEngine`s share a Redis: one store of
 * messages (serials, history, dedup and retention are a `MemoryEngine`'s), presence held per node, and
 * fan-out to the nodes that listen. It lets many nodes run in one process (multi-node tests, demos);
 * it is made to be plainly correct, not fast.
 */
export class EngineBus {
  /** For the nodes: the shared messages. Its events are the bus's fan-out. */
  readonly store: MemoryEngine;
  private readonly members = new Set<BusEngine>();
  private readonly presence = new Map<string, ChannelHolds>();

  constructor(retention: Partial<RetentionOptions> = {}) {
    this.store = new MemoryEngine(retention);
    void this.store.start({ message: (channelKey, message) => this.fanOut(channelKey, 'message', message), presence: () => {} });
  }

  /** Ids of the nodes started on the bus and not closed. */
  get nodeIds(): string[] {
    return [...this.members].map((n) => n.nodeId).sort();
  }

  /** For the nodes: join, leave, and keep the store delivering while any node listens. */
  join(node: BusEngine): void {
    this.members.add(node);
  }

  leave(node: BusEngine): void {
    this.members.delete(node);
  }

  listened(channelKey: string): void {
    this.store.listen(channelKey);
  }

  unlistened(channelKey: string): void {
    if (![...this.members].some((n) => n.listensTo(channelKey))) this.store.unlisten(channelKey);
  }

  /** For the nodes: a channel's presence, made on first use and kept (its serial must never go back). */
  holds(channelKey: string): ChannelHolds {
    let state = this.presence.get(channelKey);
    if (!state) this.presence.set(channelKey, (state = { members: new ChannelPresence(), pseq: 0 }));
    return state;
  }

  /** For the nodes: every channel's presence, to let go of one node's holds. */
  allHolds(): IterableIterator<[string, ChannelHolds]> {
    return this.presence.entries();
  }

  announce(channelKey: string, change: PresenceChange): void {
    this.fanOut(channelKey, 'presence', change);
  }

  private fanOut(channelKey: string, kind: keyof EngineEvents, payload: unknown): void {
    // Bytes cross the bus, as they cross Redis: each node gets its own copy, and nothing shared is mutated.
    const bytes = JSON.stringify(payload);
    for (const node of this.members) if (node.listensTo(channelKey)) node.receive(channelKey, kind, bytes);
  }
}

/**
 * One node on an `EngineBus`: its own node id, listening set and presence holds; everything else is
 * the bus's. Deliveries arrive asynchronously and in order, as from Redis; `close()` lets go of the
 * node's presence holds, so other nodes see those members leave.
 */
export class BusEngine implements Engine {
  readonly kind = 'bus';
  /** Serials live on the bus, which outlives its nodes: a node started again finds the same streams. */
  readonly serialsOutliveProcess = true;
  readonly nodeId = randomBytes(6).toString('base64url');
  private events?: EngineEvents;
  private readonly listening = new Set<string>();

  constructor(private readonly bus: EngineBus) {}

  async start(events: EngineEvents): Promise<void> {
    this.events = events;
    this.bus.join(this);
  }

  async close(): Promise<void> {
    for (const [channelKey, state] of this.bus.allHolds()) {
      for (const holder of state.members.holders()) {
        const hold = parseHoldKey(holder.connectionId);
        if (hold.nodeId === this.nodeId) await this.presenceLeave(channelKey, holder.clientId, hold.connectionId);
      }
    }
    for (const channelKey of [...this.listening]) this.unlisten(channelKey);
    this.bus.leave(this);
    this.events = undefined;
  }

  async nodes(): Promise<string[]> {
    return this.bus.nodeIds;
  }

  publish(channelKey: string, draft: MessageDraft): Promise<PublishResult> {
    return this.bus.store.publish(channelKey, draft);
  }

  listen(channelKey: string): void {
    this.listening.add(channelKey);
    this.bus.listened(channelKey);
  }

  unlisten(channelKey: string): void {
    if (!this.listening.delete(channelKey)) return;
    this.bus.unlistened(channelKey);
  }

  /** For the bus. */
  listensTo(channelKey: string): boolean {
    return this.listening.has(channelKey);
  }

  /** For the bus: a delivery, handed on after the current turn's work, unless the node stopped listening. */
  receive(channelKey: string, kind: keyof EngineEvents, bytes: string): void {
    queueMicrotask(() => {
      if (!this.listening.has(channelKey)) return;
      if (kind === 'message') this.events?.message(channelKey, JSON.parse(bytes));
      else this.events?.presence(channelKey, JSON.parse(bytes));
    });
  }

  async presenceEnter(channelKey: string, member: PresenceMember): Promise<PresenceOutcome> {
    const state = this.bus.holds(channelKey);
    const key = holdKey(this.nodeId, member.connectionId);
    // The same connection held through another node (it resumed here before that node let go) is the same hold.
    const previous = state.members.holder(member.clientId, key) ?? heldElsewhere(state, member.clientId, member.connectionId, this.nodeId);
    const before = this.shown(state, member.clientId);
    state.members.enter(member.clientId, key, member.data, member.encoding);
    // The hold entered last speaks for the member.
    const hold = !previous ? 'enter' : samePresenceData(previous, member) ? null : 'update';
    const facts = { hold, holder: member, shown: { before, after: member } } as const;
    if (!seenByAnyone(facts)) return { pseq: state.pseq };
    return this.announce(channelKey, state, facts);
  }

  async presenceLeave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceOutcome> {
    const state = this.bus.holds(channelKey);
    const key = holdKey(this.nodeId, connectionId);
    const held = state.members.holder(clientId, key);
    if (!held) return { pseq: state.pseq };
    const before = this.shown(state, clientId);
    state.members.leave(clientId, key);
    // The connection resumed through another node before this one let go: it is still there.
    const hold = heldElsewhere(state, clientId, connectionId, this.nodeId) ? null : 'leave';
    const facts = { hold, holder: ownMember(held), shown: { before, after: this.shown(state, clientId) } } as const;
    // A hold let go moves the serial even when nobody sees it, as in Redis.
    if (!seenByAnyone(facts)) return { pseq: (state.pseq = nextPresenceSerial(state.pseq, Date.now())) };
    return this.announce(channelKey, state, facts);
  }

  /** The member the client shows, as callers know it. */
  private shown(state: ChannelHolds, clientId: string): PresenceMember | undefined {
    const member = state.members.member(clientId);
    return member && ownMember(member);
  }

  private announce(channelKey: string, state: ChannelHolds, facts: Omit<PresenceChange, 'pseq' | 'timestamp'>): PresenceOutcome {
    const timestamp = Date.now();
    const change: PresenceChange = { pseq: (state.pseq = nextPresenceSerial(state.pseq, timestamp)), timestamp, ...facts };
    this.bus.announce(channelKey, change);
    return { pseq: change.pseq, change };
  }

  async presenceMembers(channelKey: string): Promise<PresenceMember[]> {
    return (await this.presenceSync(channelKey)).members;
  }

  async presenceSync(channelKey: string): Promise<PresenceSync> {
    const state = this.bus.holds(channelKey);
    return { members: state.members.list().map(ownMember), pseq: state.pseq };
  }

  async presenceSnapshot(channelKey: string): Promise<TimedPresenceMember[]> {
    return this.bus.holds(channelKey).members.holders().map(ownMember);
  }

  recover(channelKey: string, fromSerial: number, epoch?: string, maxBytes?: number): Promise<Recovery> {
    return this.bus.store.recover(channelKey, fromSerial, epoch, maxBytes);
  }

  history(channelKey: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.bus.store.history(channelKey, query);
  }

  position(channelKey: string): Promise<{ seq: number; epoch: string }> {
    return this.bus.store.position(channelKey);
  }
}

/** A hold is one connection through one node. Node ids never hold `|`, so the first one ends the id. */
function holdKey(nodeId: string, connectionId: string): string {
  return `${nodeId}|${connectionId}`;
}

function parseHoldKey(key: string): { nodeId: string; connectionId: string } {
  const bar = key.indexOf('|');
  return { nodeId: key.slice(0, bar), connectionId: key.slice(bar + 1) };
}

/** A member as the presence table keeps it (its connection id a hold key), as callers know it. */
function ownMember<T extends PresenceMember>(member: T): T {
  return { ...member, connectionId: parseHoldKey(member.connectionId).connectionId };
}

/** The connection's hold through a node other than `nodeId`, if it has one. */
function heldElsewhere(state: ChannelHolds, clientId: string, connectionId: string, nodeId: string): PresenceMember | undefined {
  return state.members.holders().find((h) => {
    if (h.clientId !== clientId) return false;
    const hold = parseHoldKey(h.connectionId);
    return hold.connectionId === connectionId && hold.nodeId !== nodeId;
  });
}
