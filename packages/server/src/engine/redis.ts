import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, HubbubError, type PresenceAction, type PresenceMember } from '@hubbub/protocol';
import { DEFAULT_RETENTION, type RetentionOptions, retentionFor } from './retention.js';
import { type Engine, type EngineEvents, type HistoryPage, type HistoryQuery, type MessageDraft, type PresenceChange, type PresenceOutcome, type PresenceSync, type PublishResult, type Recovery, type StoredMessage, type TimedPresenceMember } from '../core/engine.js';
import { PRESENCE_ENTER_SCRIPT, PRESENCE_LEAVE_SCRIPT, PRESENCE_SYNC_SCRIPT, PUBLISH_SCRIPT } from './redis-scripts.js';

export interface RedisEngineOptions extends Partial<RetentionOptions> {
  url: string;
  /** A node whose heartbeat key is older than this is dead and its presence members leave. Default 15 s. */
  nodeTtlMs?: number;
  /** Key prefix, to share one Redis between deployments. Default `hubbub`. */
  prefix?: string;
  /** `start()` gives up (50001) when Redis has not answered within this long. Default 5 s. */
  startTimeoutMs?: number;
}

export const DEFAULT_REDIS_PREFIX = 'hubbub';

type Commands = Redis & {
  hubbubPublish(...args: Array<string | number>): Promise<[number, number, string]>;
  hubbubPresenceEnter(...args: Array<string | number>): Promise<[string, string, number, string]>;
  hubbubPresenceLeave(...args: Array<string | number>): Promise<[string, string, string, number, string, string]>;
  hubbubPresenceSync(...args: string[]): Promise<[number, ...string[]]>;
};

/**
 * Many nodes, one Redis: pub/sub for fan-out (one delivery per node), presence in hashes with node
 * heartbeats, history in bounded Streams, dedup records with SET NX PX. Keys of one channel share a
 * hash tag, so a Redis Cluster keeps them on one shard.
 */
export class RedisEngine implements Engine {
  readonly serialsOutliveProcess = true;
  readonly kind = 'redis';
  readonly nodeId = randomBytes(6).toString('base64url');
  private readonly retention: RetentionOptions;
  private readonly nodeTtlMs: number;
  private readonly prefix: string;
  private readonly cmd: Commands;
  private readonly sub: Redis;
  private events?: EngineEvents;
  /** Channels listened to, with the last serial delivered here: a jump means messages to fetch. */
  private readonly listening = new Map<string, ListenState>();
  /** This node's presence holds, to register again after Redis lost them. */
  private readonly holds = new Map<string, Map<string, string>>();
  private timers: NodeJS.Timeout[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private everReady = false;
  private epochs = 0;
  private started?: Promise<void>;

  constructor(private readonly options: RedisEngineOptions) {
    this.retention = { ...DEFAULT_RETENTION, ...pickRetention(options) };
    this.nodeTtlMs = options.nodeTtlMs ?? 15_000;
    this.prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    const common: RedisOptions = {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      // Fail fast while Redis is away: a publish must say it failed, not wait in a queue.
      enableOfflineQueue: false,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    };
    // Commands issued in the same tick (many connections publishing at once) go out as one write.
    this.cmd = new Redis(options.url, { ...common, enableAutoPipelining: true }) as Commands;
    this.sub = new Redis(options.url, { ...common, autoResubscribe: true });
    this.cmd.defineCommand('hubbubPublish', { numberOfKeys: 5, lua: PUBLISH_SCRIPT });
    this.cmd.defineCommand('hubbubPresenceEnter', { numberOfKeys: 2, lua: PRESENCE_ENTER_SCRIPT });
    this.cmd.defineCommand('hubbubPresenceLeave', { numberOfKeys: 2, lua: PRESENCE_LEAVE_SCRIPT });
    this.cmd.defineCommand('hubbubPresenceSync', { numberOfKeys: 2, lua: PRESENCE_SYNC_SCRIPT });
    for (const client of [this.cmd, this.sub]) client.on('error', () => {});
  }

  async start(events: EngineEvents): Promise<void> {
    this.events = events;
    this.sub.on('message', (channel: string, payload: string) => this.onPubSub(channel, payload));
    this.sub.on('ready', () => void this.afterReconnect('sub'));
    this.cmd.on('ready', () => void this.afterReconnect('cmd'));
    // ioredis rejects connect() with a bare "Connection is closed." and then retries forever: keep the
    // last real error to say why, and give up for good, disconnecting both clients, past the deadline.
    let lastError: Error | undefined;
    const remember = (err: Error) => (lastError = err);
    for (const client of [this.cmd, this.sub]) client.on('error', remember);
    this.started = Promise.all([this.cmd.connect(), this.sub.connect()]).then(() => {});
    const limitMs = this.options.startTimeoutMs ?? 5000;
    let deadline: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.started.then(() => {
          this.everReady = true;
          return this.heartbeat();
        }),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => reject(new Error(`no answer within ${limitMs / 1000} s`)), limitMs);
        }),
      ]);
    } catch (err) {
      this.everReady = false;
      this.cmd.disconnect();
      this.sub.disconnect();
      throw new HubbubError(ErrorCode.Bootstrap, `cannot reach Redis at ${this.urlForMessages()} (${lastError?.message ?? (err as Error).message})`);
    } finally {
      clearTimeout(deadline);
      for (const client of [this.cmd, this.sub]) client.off('error', remember);
    }
    const beat = setInterval(() => void this.heartbeat().catch(() => {}), Math.max(200, Math.floor(this.nodeTtlMs / 3)));
    const reap = setInterval(() => void this.reapDeadNodes().catch(() => {}), Math.max(200, Math.floor(this.nodeTtlMs / 3)));
    this.timers = [beat, reap];
    for (const t of this.timers) t.unref();
  }

  /** The URL without its password. */
  private urlForMessages(): string {
    try {
      const url = new URL(this.options.url);
      if (url.password) url.password = '***';
      return url.toString();
    } catch {
      return '(unparseable URL)';
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    // Presence changes under way (the leaves of connections closed by a drain) finish first: cutting the
    // link between their script and their announcement would leave other nodes' clients never told.
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS))]);
    // Leave presence cleanly so other nodes need not wait for the TTL.
    await Promise.allSettled(
      [...this.holds].flatMap(([ck, fields]) => [...fields.keys()].map((field) => this.leaveField(ck, field))),
    );
    await this.cmd.del(this.nodeKey(this.nodeId)).catch(() => {});
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  async nodes(): Promise<string[]> {
    const keys = await this.run(() => this.cmd.keys(`${this.prefix}:node:*`));
    return keys.map((k) => k.slice(`${this.prefix}:node:`.length)).sort();
  }

  async ping(): Promise<void> {
    await this.run(() => this.cmd.ping());
  }

  async publish(channelKey: string, draft: MessageDraft): Promise<PublishResult> {
    const keys = this.keys(channelKey);
    const bounds = retentionFor(this.retention, channelKey);
    const { connectionId, dedupScope, ...rest } = draft;
    const body = JSON.stringify({ ...rest, ...(connectionId ? { connectionId } : {}), timestamp: Date.now() });
    const [seq, duplicate] = await this.run(() =>
      this.cmd.hubbubPublish(
        keys.seq,
        keys.epoch,
        keys.history,
        // Neither a client id nor a dedup scope holds `|`: the first one ends the scope.
        `${keys.dedup}${dedupScope ?? draft.clientId ?? ''}|${draft.messageId}`,
        keys.pubsub,
        body,
        this.epochCandidate(),
        bounds.historyLimit,
        Math.max(bounds.historyTtlMs, 1000),
        this.retention.dedupWindowMs,
        draft.ephemeral ? 1 : 0,
      ),
    );
    return { seq: seq > 0 ? seq : undefined, duplicate: duplicate === 1 };
  }

  /**
   * A new stream's epoch, should this publish start one: unique per node (the node id) and per call
   * (a counter), without the cost of random bytes on every publish.
   */
  private epochCandidate(): string {
    return `${this.nodeId}.${(this.epochs++).toString(36)}`;
  }

  /** Resolves once this node receives the channel's messages, so a subscriber can then take its cursor. */
  listen(channelKey: string): Promise<void> {
    const existing = this.listening.get(channelKey);
    if (existing) return existing.ready;
    const state: ListenState = { lastSeq: 0, chain: Promise.resolve(), ready: Promise.resolve() };
    this.listening.set(channelKey, state);
    // Subscribe first, then read the position: anything published after that read arrives by pub/sub,
    // and a later jump in serials is recognised as a gap to fetch.
    state.ready = (this.started ?? Promise.resolve())
      .then(() => this.sub.subscribe(this.keys(channelKey).pubsub))
      .then(() => this.position(channelKey))
      .then((p) => {
        state.lastSeq = p.seq;
        state.epoch = p.epoch;
      })
      .catch(() => {});
    state.chain = state.ready;
    return state.ready;
  }

  unlisten(channelKey: string): void {
    if (!this.listening.delete(channelKey)) return;
    void this.sub.unsubscribe(this.keys(channelKey).pubsub).catch(() => {});
  }

  presenceEnter(channelKey: string, member: PresenceMember): Promise<PresenceOutcome> {
    return this.tracked(this.enter(channelKey, member));
  }

  private async enter(channelKey: string, member: PresenceMember): Promise<PresenceOutcome> {
    const field = this.field(member.clientId, member.connectionId);
    const value = `${Date.now()}\n${member.encoding ?? ''}\n${member.data === undefined ? '' : JSON.stringify(member.data)}`;
    let fields = this.holds.get(channelKey);
    if (!fields) this.holds.set(channelKey, (fields = new Map()));
    fields.set(field, value);
    const keys = this.keys(channelKey);
    const [seen, held, pseq, written] = await this.run(() =>
      this.cmd.hubbubPresenceEnter(keys.presence, keys.presenceSerial, field, value, member.clientId, member.connectionId, PRESENCE_SERIAL_TTL_MS),
    );
    // Registered again as written (its timestamp may have moved), unless it was let go meanwhile.
    if (fields.get(field) === value) fields.set(field, written);
    await this.run(() => this.cmd.sadd(this.presenceIndexKey(), channelKey));
    const action = (seen || null) as PresenceAction | null;
    const hold = (held || null) as PresenceAction | null;
    if (action || hold) await this.announce(channelKey, { pseq, action, member, hold, holder: member });
    return { action, pseq };
  }

  async presenceLeave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceOutcome> {
    return this.tracked(this.leaveField(channelKey, this.field(clientId, connectionId)));
  }

  /** A presence change in flight, which `close()` lets finish (script and announcement both). */
  private tracked<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work)).catch(() => {});
    return work;
  }

  async presenceMembers(channelKey: string): Promise<PresenceMember[]> {
    return (await this.presenceSync(channelKey)).members;
  }

  async presenceSync(channelKey: string): Promise<PresenceSync> {
    const keys = this.keys(channelKey);
    const [pseq, ...flat] = await this.run(() => this.cmd.hubbubPresenceSync(keys.presence, keys.presenceSerial));
    const holds: Array<{ ts: number; member: PresenceMember }> = [];
    for (let i = 0; i < flat.length; i += 2) holds.push(decodeHold(flat[i], flat[i + 1]));
    return { members: latestPerClient(holds).map((v) => v.member), pseq: Number(pseq) };
  }

  async presenceSnapshot(channelKey: string): Promise<TimedPresenceMember[]> {
    return (await this.allHolds(channelKey)).map((v) => ({ ...v.member, timestamp: v.ts }));
  }

  private async allHolds(channelKey: string): Promise<Array<{ ts: number; member: PresenceMember }>> {
    const all = await this.run(() => this.cmd.hgetall(this.keys(channelKey).presence));
    return Object.entries(all).map(([field, value]) => decodeHold(field, value));
  }

  async recover(channelKey: string, fromSerial: number, epoch?: string): Promise<Recovery> {
    const [current, pos] = await Promise.all([this.readHistory(channelKey, `${fromSerial + 1}-0`, '+'), this.position(channelKey)]);
    const sameStream = epoch === undefined ? fromSerial <= pos.seq : epoch === pos.epoch;
    if (!sameStream) {
      return { ...pos, messages: await this.readHistory(channelKey, '-', '+'), resumed: false };
    }
    const oldest = current[0]?.seq ?? pos.seq + 1;
    return { ...pos, messages: current, resumed: fromSerial + 1 >= oldest };
  }

  async history(channelKey: string, query: HistoryQuery): Promise<HistoryPage> {
    const end = query.before === undefined ? '+' : `(${query.before}-0`;
    const all = await this.readEntries(channelKey, '-', end);
    const forwards = query.direction === 'forwards';
    let take = Math.min(query.limit, all.length);
    // Within the byte budget, counted from the stored sizes (at least one message).
    if (query.maxBytes !== undefined) {
      let bytes = 0;
      for (let n = 0; n < take; n++) {
        bytes += all[forwards ? n : all.length - 1 - n].bytes;
        if (bytes > query.maxBytes && n > 0) {
          take = n;
          break;
        }
      }
    }
    const page = forwards ? all.slice(0, take) : all.slice(all.length - take);
    return { messages: page.map((e) => e.message), more: all.length > take };
  }

  async position(channelKey: string): Promise<{ seq: number; epoch: string }> {
    const keys = this.keys(channelKey);
    const [seq, epoch] = await this.run(() => this.cmd.mget(keys.seq, keys.epoch));
    if (epoch) return { seq: Number(seq ?? 0), epoch };
    // A channel nobody published to yet: fix its epoch now so cursors taken from it stay valid.
    await this.run(() => this.cmd.set(keys.epoch, randomBytes(6).toString('base64url'), 'PX', this.retention.historyTtlMs * 2, 'NX'));
    const [seq2, epoch2] = await this.run(() => this.cmd.mget(keys.seq, keys.epoch));
    return { seq: Number(seq2 ?? 0), epoch: epoch2 ?? '' };
  }

  // ---- internals ----

  private onPubSub(pubsubChannel: string, payload: string): void {
    const channelKey = this.channelKeyOf(pubsubChannel);
    // What was on its way when this node stopped listening is not wanted here.
    if (channelKey === undefined || !this.listening.has(channelKey)) return;
    if (payload[0] === 'p') {
      const change = JSON.parse(payload.slice(1)) as Partial<PresenceChange>;
      // A node of an earlier version sends no hold: its change is the connection's change too.
      const hold = 'hold' in change ? (change.hold ?? null) : (change.action ?? null);
      const { action = null, member, timestamp, pseq = 0 } = change;
      this.events?.presence(channelKey, { pseq, action, member: member!, timestamp: timestamp!, hold, holder: change.holder ?? member! });
      return;
    }
    const message = JSON.parse(payload.slice(1)) as StoredMessage;
    const state = this.listening.get(channelKey)!;
    // Keep delivery in serial order even when a gap must first be fetched from history.
    state.chain = state.chain.then(() => this.deliverInOrder(channelKey, state, message));
  }

  private async deliverInOrder(channelKey: string, state: { lastSeq: number }, message: StoredMessage): Promise<void> {
    if (message.seq === undefined) return this.events?.message(channelKey, message);
    if (message.seq <= state.lastSeq) return;
    if (message.seq > state.lastSeq + 1 && state.lastSeq > 0) await this.fillGap(channelKey, state, message.seq - 1);
    state.lastSeq = message.seq;
    this.events?.message(channelKey, message);
  }

  /** Deliver, from history, what this node missed on a channel (e.g. while its Redis link was down). */
  private async fillGap(channelKey: string, state: { lastSeq: number }, upTo?: number): Promise<void> {
    const end = upTo === undefined ? '+' : `${upTo}-0`;
    const missed = await this.readHistory(channelKey, `${state.lastSeq + 1}-0`, end).catch(() => []);
    for (const m of missed) {
      if (m.seq! <= state.lastSeq) continue;
      state.lastSeq = m.seq!;
      this.events?.message(channelKey, m);
    }
  }

  private async afterReconnect(which: 'sub' | 'cmd'): Promise<void> {
    if (!this.everReady) return;
    if (which === 'cmd') {
      // Redis may have restarted empty: register this node and its presence again.
      await this.heartbeat().catch(() => {});
      for (const [ck, fields] of this.holds) {
        for (const [field, value] of fields) await this.cmd.hset(this.keys(ck).presence, field, value).catch(() => {});
        await this.cmd.sadd(this.presenceIndexKey(), ck).catch(() => {});
      }
      return;
    }
    // Subscriptions that failed while Redis was away are made again here (autoResubscribe covers the rest).
    const keys = [...this.listening.keys()].map((ck) => this.keys(ck).pubsub);
    if (keys.length > 0) await this.sub.subscribe(...keys).catch(() => {});
    for (const [ck, state] of this.listening) {
      state.chain = state.chain.then(() => this.catchUp(ck, state));
    }
  }

  /** After the subscriber link came back: fetch what was published while it was away. */
  private async catchUp(channelKey: string, state: { lastSeq: number; epoch?: string }): Promise<void> {
    const pos = await this.position(channelKey).catch(() => undefined);
    if (!pos) return;
    if (state.epoch !== undefined && pos.epoch !== state.epoch) {
      // The stream was reset (Redis lost its data): start over from what it holds now.
      state.lastSeq = 0;
    }
    state.epoch = pos.epoch;
    await this.fillGap(channelKey, state);
  }

  private async leaveField(channelKey: string, field: string): Promise<PresenceOutcome> {
    this.holds.get(channelKey)?.delete(field);
    if (this.holds.get(channelKey)?.size === 0) this.holds.delete(channelKey);
    const [clientId, , connectionId] = field.split('|');
    const keys = this.keys(channelKey);
    const [left, removed, stillHeld, pseq, visibleField, visibleValue] = await this.run(() =>
      this.cmd.hubbubPresenceLeave(keys.presence, keys.presenceSerial, field, clientId, connectionId, PRESENCE_SERIAL_TTL_MS),
    );
    if (!removed) return { action: null, pseq };
    const holder = decodeHold(field, removed).member;
    const action = left === 'leave' || left === 'update' ? left : null;
    // Watchers by client id see the member as its remaining latest connection now speaks for it.
    const member = action === 'update' ? decodeHold(visibleField, visibleValue).member : holder;
    // The connection resumed through another node before this one let go: it is still there.
    const hold = stillHeld ? null : 'leave';
    if (action || hold) await this.announce(channelKey, { pseq, action, member, hold, holder });
    return { action, pseq };
  }

  private async announce(channelKey: string, change: Omit<PresenceChange, 'timestamp'>): Promise<void> {
    const event = JSON.stringify({ ...change, timestamp: Date.now() });
    await this.run(() => this.cmd.publish(this.keys(channelKey).pubsub, `p${event}`));
  }

  private async heartbeat(): Promise<void> {
    await this.cmd.set(this.nodeKey(this.nodeId), String(Date.now()), 'PX', this.nodeTtlMs);
  }

  /** Members held through nodes whose heartbeat expired leave; one node does it at a time. */
  private async reapDeadNodes(): Promise<void> {
    const lock = await this.cmd.set(`${this.prefix}:reaper`, this.nodeId, 'PX', Math.max(200, Math.floor(this.nodeTtlMs / 3)), 'NX');
    if (lock !== 'OK') return;
    const channels = await this.cmd.smembers(this.presenceIndexKey());
    const alive = new Map<string, boolean>();
    for (const ck of channels) {
      const key = this.keys(ck).presence;
      const fields = await this.cmd.hkeys(key);
      if (fields.length === 0) {
        await this.cmd.srem(this.presenceIndexKey(), ck);
        continue;
      }
      for (const field of fields) {
        const nodeId = field.split('|')[1];
        if (!alive.has(nodeId)) alive.set(nodeId, (await this.cmd.exists(this.nodeKey(nodeId))) === 1);
        if (!alive.get(nodeId)) await this.leaveField(ck, field);
      }
    }
  }

  private async readHistory(channelKey: string, start: string, end: string): Promise<StoredMessage[]> {
    return (await this.readEntries(channelKey, start, end)).map((e) => e.message);
  }

  /** Retained messages between two stream ids, each with its stored size in bytes. */
  private async readEntries(channelKey: string, start: string, end: string): Promise<Array<{ message: StoredMessage; bytes: number }>> {
    const entries = await this.run(() => this.cmd.xrange(this.keys(channelKey).history, start, end));
    const oldest = Date.now() - retentionFor(this.retention, channelKey).historyTtlMs;
    return entries
      .map(([, fields]) => ({ message: JSON.parse(fields[1]) as StoredMessage, bytes: Buffer.byteLength(fields[1]) }))
      .filter((e) => e.message.timestamp >= oldest);
  }

  /** Redis failures become one clear error: the engine is unreachable (50001; over HTTP a retryable 503). */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new HubbubError(ErrorCode.Bootstrap, `engine unavailable: ${(err as Error).message}`, 503);
    }
  }

  private keys(channelKey: string) {
    const base = `${this.prefix}:{${channelKey}}`;
    return {
      seq: `${base}:seq`,
      epoch: `${base}:epoch`,
      history: `${base}:hist`,
      dedup: `${base}:dedup:`,
      presence: `${base}:pres`,
      presenceSerial: `${base}:pseq`,
      pubsub: `${base}:ps`,
    };
  }

  private channelKeyOf(pubsubChannel: string): string | undefined {
    const m = /^[^{]*\{(.*)\}:ps$/.exec(pubsubChannel);
    return m?.[1];
  }

  private field(clientId: string, connectionId: string): string {
    return `${clientId}|${this.nodeId}|${connectionId}`;
  }

  private nodeKey(nodeId: string): string {
    return `${this.prefix}:node:${nodeId}`;
  }

  private presenceIndexKey(): string {
    return `${this.prefix}:presence-channels`;
  }
}

/**
 * How long a channel's presence serial is kept after its last change. Losing it is harmless (the next
 * serial is at least the clock in microseconds); keeping it bounds same-microsecond bursts.
 */
const PRESENCE_SERIAL_TTL_MS = 24 * 3_600_000;

/** How long `close()` waits for presence changes under way. */
const CLOSE_WAIT_MS = 3000;

/** Per client, its latest connection's hold: the one that speaks for the member. */
function latestPerClient(holds: Array<{ ts: number; member: PresenceMember }>): Array<{ ts: number; member: PresenceMember }> {
  const latest = new Map<string, { ts: number; member: PresenceMember }>();
  for (const hold of holds) {
    const seen = latest.get(hold.member.clientId);
    if (!seen || hold.ts > seen.ts) latest.set(hold.member.clientId, hold);
  }
  return [...latest.values()];
}

interface ListenState {
  lastSeq: number;
  epoch?: string;
  /** Deliveries of this channel run one after another, in serial order. */
  chain: Promise<void>;
  ready: Promise<void>;
}

function decodeHold(field: string, value: string): { member: PresenceMember; ts: number } {
  const [clientId, , connectionId] = field.split('|');
  const first = value.indexOf('\n');
  const second = value.indexOf('\n', first + 1);
  const encoding = value.slice(first + 1, second);
  const data = value.slice(second + 1);
  const member: PresenceMember = { clientId, connectionId };
  if (data) member.data = JSON.parse(data);
  if (encoding) member.encoding = encoding;
  return { member, ts: Number(value.slice(0, first)) };
}

function pickRetention(o: Partial<RetentionOptions>): Partial<RetentionOptions> {
  const out: Partial<RetentionOptions> = {};
  if (o.historyLimit !== undefined) out.historyLimit = o.historyLimit;
  if (o.historyTtlMs !== undefined) out.historyTtlMs = o.historyTtlMs;
  if (o.dedupWindowMs !== undefined) out.dedupWindowMs = o.dedupWindowMs;
  if (o.namespaces !== undefined) out.namespaces = o.namespaces;
  return out;
}
