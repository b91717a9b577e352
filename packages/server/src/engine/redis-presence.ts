import type { PresenceAction, PresenceMember } from '@hubbub/protocol';
import type { PresenceChange, PresenceOutcome, PresenceSync, TimedPresenceMember } from '../core/engine.js';
import { seenByAnyone } from '../core/presence-views.js';
import type { Log } from '../core/log.js';
import { orUnavailable, type RedisCommands } from './redis-clients.js';
import { presenceField, presenceFieldParts, type RedisKeys } from './redis-keys.js';
import { encodePresenceChange } from './redis-presence-wire.js';

/**
 * How long a channel's presence serial is kept after its last change. Losing it is harmless (the next
 * serial is at least the clock in microseconds); keeping it bounds same-microsecond bursts.
 */
const PRESENCE_SERIAL_TTL_MS = 24 * 3_600_000;

/** One connection's hold on its member, with when it last entered or updated. */
interface Hold {
  ts: number;
  member: PresenceMember;
}

export interface RedisPresenceOptions {
  nodeId: string;
  /** A node whose heartbeat key is older than this is dead and its presence members leave. */
  nodeTtlMs: number;
  log: Log;
  /** Publish on a channel's pub/sub: classic on one Redis, sharded on a cluster. */
  publish(channel: string, payload: string): Promise<unknown>;
}

/**
 * Presence in Redis: one hash per channel, a field per connection (`clientId|nodeId|connectionId`)
 * whose value is `timestamp\nencoding\ndata` (the encoding URI-encoded). Scripts change a hash and its presence serial in one
 * step, and each change is announced on the channel's pub/sub (`p` + JSON). Members held through a
 * node whose heartbeat expired are made to leave by the reaper.
 */
export class RedisPresence {
  /** This node's presence holds, to register again after Redis lost them. */
  private readonly holds = new Map<string, Map<string, string>>();

  constructor(
    private readonly cmd: RedisCommands,
    private readonly keys: RedisKeys,
    private readonly options: RedisPresenceOptions,
  ) {}

  async enter(channelKey: string, member: PresenceMember): Promise<PresenceOutcome> {
    const field = presenceField(member.clientId, this.options.nodeId, member.connectionId);
    // The encoding is URI-encoded: a label with a line break would otherwise split the value's fields.
    const value = `${Date.now()}\n${encodeURIComponent(member.encoding ?? '')}\n${member.data === undefined ? '' : JSON.stringify(member.data)}`;
    let fields = this.holds.get(channelKey);
    if (!fields) this.holds.set(channelKey, (fields = new Map()));
    fields.set(field, value);
    return this.hold(channelKey, field, value, member);
  }

  /** Write one of this node's holds and announce what watchers see change (nothing, when Redis had it already). */
  private async hold(channelKey: string, field: string, value: string, member: PresenceMember): Promise<PresenceOutcome> {
    const fields = this.holds.get(channelKey);
    const keys = this.keys.channel(channelKey);
    const [held, pseq, written, shownField, shownValue] = await orUnavailable(() =>
      this.cmd.hubbubPresenceEnter(keys.presence, keys.presenceSerial, field, value, member.clientId, member.connectionId, PRESENCE_SERIAL_TTL_MS),
    );
    // Registered again as written (its timestamp may have moved), unless it was let go meanwhile.
    if (fields?.get(field) === value) fields.set(field, written);
    await orUnavailable(() => this.cmd.sadd(this.keys.presenceIndex(), channelKey));
    const hold = (held || null) as PresenceAction | null;
    // The hold written last speaks for the member.
    const facts = { hold, holder: member, shown: { before: shownBefore(shownField, shownValue, written, member), after: member } };
    if (!seenByAnyone(facts)) return { pseq };
    return { pseq, change: await this.announce(channelKey, { pseq, ...facts }) };
  }

  leave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceOutcome> {
    return this.leaveField(channelKey, presenceField(clientId, this.options.nodeId, connectionId));
  }

  async sync(channelKey: string): Promise<PresenceSync> {
    const keys = this.keys.channel(channelKey);
    const [pseq, ...flat] = await orUnavailable(() => this.cmd.hubbubPresenceSync(keys.presence, keys.presenceSerial));
    const holds: Hold[] = [];
    for (let i = 0; i < flat.length; i += 2) holds.push(decodeHold(flat[i], flat[i + 1]));
    return { members: latestPerClient(holds).map((v) => v.member), pseq: Number(pseq) };
  }

  async snapshot(channelKey: string): Promise<TimedPresenceMember[]> {
    const all = await orUnavailable(() => this.cmd.hgetall(this.keys.channel(channelKey).presence));
    return Object.entries(all).map(([field, value]) => decodeHold(field, value)).map((v) => ({ ...v.member, timestamp: v.ts }));
  }

  /** Let go of every hold of this node, so other nodes need not wait for its heartbeat to expire. */
  async leaveAll(): Promise<void> {
    await Promise.allSettled(
      [...this.holds].flatMap(([ck, fields]) => [...fields.keys()].map((field) => this.leaveField(ck, field))),
    );
  }

  /**
   * After the command link came back, or this node's heartbeat had lapsed: Redis may have restarted
   * empty, or other nodes made this node's members leave, so its holds go in again, each through the
   * enter script, so that watchers who were told of a leave are told of the enter (a hold Redis still
   * has changes nothing and is announced to no one).
   */
  async registerAgain(): Promise<void> {
    for (const [ck, fields] of [...this.holds]) {
      for (const [field, value] of [...fields]) {
        // Let go of (or changed) while this ran: a hold that is no longer this node's must not come back.
        if (this.holds.get(ck)?.get(field) !== value) continue;
        await this.hold(ck, field, value, decodeHold(field, value).member).catch((err) =>
          this.options.log.debug({ err, channelKey: ck }, 'presence hold not registered again (Redis did not answer): the next reconnect or heartbeat retries'),
        );
      }
    }
  }

  /** Members held through nodes whose heartbeat expired leave; one node does it at a time. */
  async reapDeadNodes(): Promise<void> {
    const lock = await this.cmd.set(this.keys.reaperLock(), this.options.nodeId, 'PX', Math.max(200, Math.floor(this.options.nodeTtlMs / 3)), 'NX');
    if (lock !== 'OK') return;
    const channels = await this.cmd.smembers(this.keys.presenceIndex());
    const alive = new Map<string, boolean>();
    for (const ck of channels) {
      const key = this.keys.channel(ck).presence;
      const fields = await this.cmd.hkeys(key);
      if (fields.length === 0) {
        await this.cmd.srem(this.keys.presenceIndex(), ck);
        continue;
      }
      for (const field of fields) {
        const { nodeId } = presenceFieldParts(field);
        if (!alive.has(nodeId)) alive.set(nodeId, (await this.cmd.exists(this.keys.node(nodeId))) === 1);
        if (!alive.get(nodeId)) await this.leaveField(ck, field);
      }
    }
  }

  private async leaveField(channelKey: string, field: string): Promise<PresenceOutcome> {
    this.holds.get(channelKey)?.delete(field);
    if (this.holds.get(channelKey)?.size === 0) this.holds.delete(channelKey);
    const { clientId, connectionId } = presenceFieldParts(field);
    const keys = this.keys.channel(channelKey);
    const [removed, stillHeld, pseq, beforeField, beforeValue, afterField, afterValue] = await orUnavailable(() =>
      this.cmd.hubbubPresenceLeave(keys.presence, keys.presenceSerial, field, clientId, connectionId, PRESENCE_SERIAL_TTL_MS),
    );
    if (!removed) return { pseq };
    const facts = {
      // The connection resumed through another node before this one let go: it is still there.
      hold: stillHeld ? null : ('leave' as const),
      holder: decodeHold(field, removed).member,
      shown: { before: decodeHold(beforeField, beforeValue).member, after: afterValue ? decodeHold(afterField, afterValue).member : undefined },
    };
    if (!seenByAnyone(facts)) return { pseq };
    return { pseq, change: await this.announce(channelKey, { pseq, ...facts }) };
  }

  private async announce(channelKey: string, facts: Omit<PresenceChange, 'timestamp'>): Promise<PresenceChange> {
    const change = { ...facts, timestamp: Date.now() };
    await orUnavailable(() => this.options.publish(this.keys.channel(channelKey).pubsub, encodePresenceChange(change)));
    return change;
  }
}

/**
 * The member the client showed before an enter, from the hold that spoke for it: absent when the client
 * held nothing. When that hold's stored data and encoding are the entered ones it showed what it shows
 * now, spelt as entered (Redis keeps no encoding and an empty one alike).
 */
function shownBefore(field: string, value: string, written: string, entered: PresenceMember): PresenceMember | undefined {
  if (!value) return undefined;
  if (payloadOf(value) === payloadOf(written)) return { ...entered, connectionId: presenceFieldParts(field).connectionId };
  return decodeHold(field, value).member;
}

/** A stored hold's encoding and data, without its timestamp. */
function payloadOf(value: string): string {
  return value.slice(value.indexOf('\n') + 1);
}

/** Per client, its latest connection's hold: the one that speaks for the member. */
function latestPerClient(holds: Hold[]): Hold[] {
  const latest = new Map<string, Hold>();
  for (const hold of holds) {
    const seen = latest.get(hold.member.clientId);
    if (!seen || hold.ts > seen.ts) latest.set(hold.member.clientId, hold);
  }
  return [...latest.values()];
}

function decodeHold(field: string, value: string): Hold {
  const { clientId, connectionId } = presenceFieldParts(field);
  const first = value.indexOf('\n');
  const second = value.indexOf('\n', first + 1);
  const encoding = value.slice(first + 1, second);
  const data = value.slice(second + 1);
  const member: PresenceMember = { clientId, connectionId };
  if (data) member.data = JSON.parse(data);
  if (encoding) member.encoding = decodedLabel(encoding);
  return { member, ts: Number(value.slice(0, first)) };
}

/** A label as stored: URI-encoded, or raw from a node of an earlier version (read as it was written). */
function decodedLabel(stored: string): string {
  try {
    return decodeURIComponent(stored);
  } catch {
    // Written raw by a node from before labels were URI-encoded: that text is the label.
    return stored;
  }
}
