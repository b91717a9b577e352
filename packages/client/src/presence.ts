import { ErrorCode, HubbubError, type AckFrame, type PresenceEventFrame, type PresenceMember, type ServerFrame } from '@hubbub/protocol';
import type { Connection } from './connection.js';
import { DEFAULTS } from './defaults.js';
import { Waiters } from './deferred.js';
import { Emitter } from './emitter.js';

export interface PresenceMessage {
  action: 'enter' | 'update' | 'leave' | 'present';
  clientId: string;
  connectionId?: string;
  data?: unknown;
  /** Server time of the change, Unix ms (absent for members listed by a sync). */
  timestamp?: number;
}

/** What presence needs from the Realtime that owns its channel (a Channel's owner is one). */
export interface PresenceOwner {
  conn: Connection;
  queueMessages: boolean;
  autoReenterPresence: boolean;
}

/** A presence change to apply, from the server's events or this client's own acknowledged change. */
interface Change {
  action: 'enter' | 'update' | 'leave';
  clientId: string;
  connectionId?: string;
  data?: unknown;
  timestamp?: number;
  pseq?: number;
}

interface Entry {
  member: PresenceMember;
  /** Presence serial of what we know of this member; -Infinity after a drop (the next sync decides). */
  pseq: number;
}

/**
 * Members of a channel: enter/update/leave as this client, and the events of everyone.
 *
 * The member list is a merge, never a replace: a sync's snapshot (`presSub` ack) says which members
 * were present as of a presence serial; events are ordered per member by their serial, so one that
 * arrives late (across nodes, or after the snapshot that already holds it) changes nothing. Events that
 * arrive while a snapshot is in flight wait for it. A member missing from a snapshot leaves only if
 * nothing newer than the snapshot is known of it.
 */
export class Presence {
  private readonly events = new Emitter<PresenceMessage>();
  private readonly members = new Map<string, Entry>();
  /** Serial of the last leave of members no longer listed, to drop an older event arriving after it. */
  private readonly tombstones = new Map<string, number>();
  /** Events at or below this serial are already in the last snapshot. */
  private floor = -Infinity;
  private readonly synced = new Waiters();
  /** The app watches presence: sync whenever the connection is up. */
  private wanted = false;
  private isSynced = false;
  private everSynced = false;
  /** The connection generation a `presSub` is in flight on, and the events that arrived meanwhile. */
  private syncingOn?: number;
  private buffered: Change[] = [];
  /** What this client entered with, for autoReenterPresence. */
  private own?: { data: unknown };
  /** This client's own last change, acknowledged before the app watched presence. */
  private ownBeforeWatching?: Change;

  constructor(
    private readonly channel: string,
    private readonly owner: PresenceOwner,
  ) {}

  /** `on(fn)` or `on(action, fn)`; current members arrive first as `present`. */
  on(fn: (message: PresenceMessage) => void): () => void;
  on(action: PresenceMessage['action'], fn: (message: PresenceMessage) => void): () => void;
  on(a: string | ((m: PresenceMessage) => void), b?: (m: PresenceMessage) => void): () => void {
    const fn = typeof a === 'function' ? a : b!;
    const off = typeof a === 'function' ? this.events.on(undefined, fn) : this.events.on(a, fn);
    // A listener added once the view is in sync learns who is already there, like the first one did.
    if (this.isSynced && (typeof a === 'function' || a === 'present')) {
      const present = [...this.members.values()].map(({ member }): PresenceMessage => ({ action: 'present', ...member }));
      queueMicrotask(() => {
        for (const m of present) {
          try {
            fn(m);
          } catch (err) {
            setTimeout(() => {
              throw err; // a listener's bug must not stop the others, as in Emitter
            });
          }
        }
      });
    }
    // A refused sync is asked again by get(), which rejects with the reason; after a drop the next `connected`
    // syncs again, and a closed connection says so in its own state.
    void this.sync().catch(() => {});
    return off;
  }

  off(action?: string, fn?: (message: PresenceMessage) => void): void {
    this.events.off(action, fn);
  }

  /** Resolves once the server has this client's member; from then on `get()` lists it. */
  enter(data?: unknown): Promise<void> {
    this.own = { data };
    return this.send('enter', data);
  }

  update(data?: unknown): Promise<void> {
    this.own = { data };
    return this.send('update', data);
  }

  leave(data?: unknown): Promise<void> {
    this.own = undefined;
    return this.send('leave', data);
  }

  /** The members present now, once this client's view is in sync with the server's. */
  async get(): Promise<PresenceMessage[]> {
    await this.sync();
    return [...this.members.values()].map(({ member }) => ({ action: 'present', ...member }));
  }

  private async send(action: 'enter' | 'update' | 'leave', data: unknown): Promise<void> {
    const body = { t: 'pres' as const, channel: this.channel, action, ...(data !== undefined ? { data } : {}) };
    // Taken as it is read, like a snapshot: a snapshot read right behind it must know of our change.
    const onReply = (ack: ServerFrame) => this.acknowledged(action, data, ack as AckFrame);
    await this.owner.conn.request(body, { resend: true, queue: this.owner.queueMessages, onReply });
  }

  /** Apply our own acknowledged change now: its event may come later (through another node) or not at all. */
  private acknowledged(action: 'enter' | 'update' | 'leave', data: unknown, ack: AckFrame): void {
    const conn = this.owner.conn;
    if (ack.pseq === undefined || !conn.clientId) return;
    // A leave that left another connection of this client holding the member changes nothing here.
    if (action === 'leave' && ack.action !== 'leave') return;
    const change: Change = { action, clientId: conn.clientId, connectionId: conn.id, pseq: ack.pseq };
    if (data !== undefined && action !== 'leave') change.data = data;
    // Not watching yet: keep it for the first sync, whose snapshot might be older than this change.
    if (!this.wanted) this.ownBeforeWatching = change;
    else this.arrive(change);
  }

  private sync(): Promise<void> {
    this.wanted = true;
    if (this.isSynced) return Promise.resolve();
    const conn = this.owner.conn;
    if (conn.state === 'closed' || conn.state === 'failed') {
      return Promise.reject(conn.errorReason ?? new HubbubError(ErrorCode.Unavailable, `connection is ${conn.state}`));
    }
    const done = this.synced.wait();
    if (conn.state === 'connected' && this.syncingOn !== conn.generation) this.subscribe();
    return done;
  }

  private subscribe(): void {
    const conn = this.owner.conn;
    const generation = conn.generation;
    this.syncingOn = generation;
    this.buffered = [];
    if (this.ownBeforeWatching) this.buffered.push(this.ownBeforeWatching);
    this.ownBeforeWatching = undefined;
    // The snapshot is taken as it is read, before any event read right behind it.
    const onReply = (ack: ServerFrame) => this.synchronised(ack as AckFrame, generation);
    conn.request({ t: 'presSub', channel: this.channel }, { queue: false, onReply }).catch((err: HubbubError) => {
      if (this.syncingOn !== generation) return;
      this.syncingOn = undefined;
      if (conn.generation !== generation || conn.state !== 'connected') return; // the next `connected` syncs again
      if (conn.retriesUnavailable(err, generation, () => this.wanted && this.syncingOn === undefined && this.subscribe())) return;
      this.wanted = false;
      this.synced.reject(err);
    });
  }

  private synchronised(ack: AckFrame, generation: number): void {
    if (this.syncingOn !== generation) return;
    this.syncingOn = undefined;
    const waiting = this.buffered;
    this.buffered = [];
    this.applySnapshot(ack.members ?? [], ack.pseq ?? -Infinity, waiting);
    for (const change of waiting) this.take(change);
    this.isSynced = true;
    this.synced.resolve();
  }

  /**
   * The snapshot holds every member as of `pseq`. What we know past it stays: members with a newer
   * serial, and members that a change waiting behind the snapshot (`after`) is about.
   */
  private applySnapshot(list: PresenceMember[], pseq: number, after: Change[]): void {
    const first = !this.everSynced;
    this.everSynced = true;
    const listed = new Map(list.map((m) => [m.clientId, m]));
    const newer = new Set(after.filter((c) => c.pseq === undefined || c.pseq > pseq).map((c) => c.clientId));
    for (const [clientId, entry] of this.members) {
      if (!listed.has(clientId) && !(entry.pseq > pseq) && !newer.has(clientId)) {
        this.members.delete(clientId);
        this.emit({ action: 'leave', ...entry.member });
      }
    }
    for (const [clientId, member] of listed) {
      const entry = this.members.get(clientId);
      if (entry && entry.pseq > pseq) continue; // a change after the snapshot already told us more
      this.members.set(clientId, { member: clean(member), pseq });
      if (!entry) this.emit({ action: first ? 'present' : 'enter', ...clean(member) });
      else if (!sameData(entry.member.data, member.data)) this.emit({ action: 'update', ...clean(member) });
    }
    this.floor = pseq;
    for (const [clientId, serial] of this.tombstones) if (serial <= pseq) this.tombstones.delete(clientId);
  }

  /** @internal An event from the server. */
  deliver(frame: PresenceEventFrame): void {
    if (this.wanted) this.arrive(changeOf(frame));
  }

  /** A change waits while a snapshot is in flight (it may already be in it), else applies now. */
  private arrive(change: Change): void {
    if (this.syncingOn !== undefined) this.buffered.push(change);
    else this.take(change);
  }

  /** Apply one change unless something newer is already known of its member. */
  private take(change: Change): void {
    const { clientId, pseq } = change;
    if (pseq !== undefined) {
      if (pseq <= this.floor) return;
      const known = this.members.get(clientId)?.pseq ?? this.tombstones.get(clientId) ?? -Infinity;
      if (pseq <= known) return;
    }
    const entry = this.members.get(clientId);
    const at = pseq ?? -Infinity;
    if (change.action === 'leave') {
      this.remember(clientId, at);
      if (!entry) return;
      this.members.delete(clientId);
      this.emit(withTime({ action: 'leave', ...entry.member }, change.timestamp));
      return;
    }
    const member: PresenceMember = { clientId, connectionId: change.connectionId ?? entry?.member.connectionId ?? '' };
    if (change.data !== undefined) member.data = change.data;
    this.members.set(clientId, { member, pseq: at });
    this.tombstones.delete(clientId);
    if (!entry) this.emit(withTime({ action: 'enter', ...member }, change.timestamp));
    else if (!sameData(entry.member.data, member.data)) this.emit(withTime({ action: 'update', ...member }, change.timestamp));
  }

  private remember(clientId: string, pseq: number): void {
    this.tombstones.delete(clientId);
    this.tombstones.set(clientId, pseq);
    if (this.tombstones.size > DEFAULTS.presenceTombstones) this.tombstones.delete(this.tombstones.keys().next().value!);
  }

  private emit(message: PresenceMessage): void {
    this.events.emit(message.action, message);
  }

  /** @internal The connection came (back) up: our own member first, so the snapshot that follows has it. */
  reattach(): void {
    // No caller waits for this re-enter: a closed or failed connection says so in its state, and a refused one
    // leaves this client out of get() (Realtime has no presence error event to carry the reason).
    if (this.own && this.owner.autoReenterPresence) void this.send('enter', this.own.data).catch(() => {});
    if (this.wanted && this.syncingOn !== this.owner.conn.generation) this.subscribe();
  }

  /**
   * @internal The connection dropped: what we know is stale. Members stay listed until the next sync
   * says who left meanwhile; serials from the old connection no longer count.
   */
  suspend(): void {
    this.isSynced = false;
    this.syncingOn = undefined;
    this.buffered = [];
    this.floor = -Infinity;
    this.tombstones.clear();
    for (const entry of this.members.values()) entry.pseq = -Infinity;
  }

  /** @internal The connection failed or was closed. */
  end(reason: HubbubError): void {
    this.suspend();
    this.synced.reject(reason);
  }
}

function changeOf(frame: PresenceEventFrame): Change {
  const change: Change = { action: frame.action, clientId: frame.clientId, connectionId: frame.connectionId, timestamp: frame.timestamp };
  if (frame.data !== undefined) change.data = frame.data;
  if (frame.pseq !== undefined) change.pseq = frame.pseq;
  return change;
}

function clean(member: PresenceMember): PresenceMember {
  const out: PresenceMember = { clientId: member.clientId, connectionId: member.connectionId };
  if (member.data !== undefined) out.data = member.data;
  return out;
}

function withTime(message: PresenceMessage, timestamp: number | undefined): PresenceMessage {
  if (timestamp !== undefined) message.timestamp = timestamp;
  return message;
}

function sameData(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
