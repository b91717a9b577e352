import { randomBytes } from 'node:crypto';
import { ErrorCode, HubbubError, type PresenceMember } from '@hubbub/protocol';
import { DEFAULT_RETENTION, type RetentionOptions, retentionFor } from './retention.js';
import type { Engine, EngineEvents, HistoryPage, HistoryQuery, MessageDraft, PresenceOutcome, PresenceSync, PublishResult, Recovery, TimedPresenceMember } from '../core/engine.js';
import { type Log, processLog } from '../core/log.js';
import { createSingleLinks, orUnavailable, type RedisCommands, type RedisLinks, type RedisLinksFactory } from './redis-clients.js';
import { createClusterLinks } from './redis-cluster-clients.js';
import { RedisHistory } from './redis-history.js';
import { DEFAULT_REDIS_PREFIX, RedisKeys } from './redis-keys.js';
import { RedisListener } from './redis-listener.js';
import { RedisPresence } from './redis-presence.js';
import { RedisPublishBatcher } from './redis-publish-batch.js';
import { isClusterUrl } from './redis-url.js';
import { redactUrl } from '../core/redact-url.js';
import { REDIS_COMMAND_TIMEOUT_MS, REDIS_NODE_TTL_MS } from '../core/defaults.js';

export { DEFAULT_REDIS_PREFIX } from './redis-keys.js';

export interface RedisEngineOptions extends Partial<RetentionOptions> {
  /** `redis://…` / `rediss://…` for one Redis, `redis+cluster://host:port,host:port…` for a Redis Cluster. */
  url: string;
  /** What makes the links to Redis from `url`. Default: one Redis, or a cluster for `redis+cluster://`. */
  links?: RedisLinksFactory;
  /** A node whose heartbeat key is older than this is dead and its presence members leave. Default 15 s. */
  nodeTtlMs?: number;
  /** Key prefix, to share one Redis between deployments. Default `hubbub`. */
  prefix?: string;
  /** `start()` gives up (50001) when Redis has not answered within this long. Default 5 s. */
  startTimeoutMs?: number;
  /** A command Redis has not answered within this long fails (50001). Default REDIS_COMMAND_TIMEOUT_MS, 5 s. */
  commandTimeoutMs?: number;
  /** Where failures no caller hears of go (at debug: each is retried or harmless). Default `processLog`. */
  log?: Log;
}

/** How long `close()` waits for presence changes under way. */
const CLOSE_WAIT_MS = 3000;

/** One Redis, or a Redis Cluster for a `redis+cluster://` URL: the same engine on either. */
export const redisLinksFor: RedisLinksFactory = (url, options) => (isClusterUrl(url) ? createClusterLinks(url, options) : createSingleLinks(url, options));

/**
 * Many nodes, one Redis or one Redis Cluster: pub/sub for fan-out (one delivery per node,
 * redis-listener.ts; sharded on a cluster), presence in hashes with node heartbeats (redis-presence.ts),
 * history in bounded Streams (redis-history.ts), dedup records with SET NX PX. Keys of one channel share
 * a hash tag, so a cluster keeps them, and the channel's shard channel, on one shard (redis-keys.ts).
 * What differs between the two is only how the links are made and routed (redis-clients.ts,
 * redis-cluster-clients.ts).
 */
export class RedisEngine implements Engine {
  readonly serialsOutliveProcess = true;
  readonly kind = 'redis';
  readonly nodeId = randomBytes(6).toString('base64url');
  /** Heartbeats still to register this node's presence again after its key had lapsed. */
  private registerBeats = 0;
  private readonly retention: RetentionOptions;
  private readonly nodeTtlMs: number;
  private readonly keys: RedisKeys;
  private readonly log: Log;
  private readonly cmd: RedisCommands;
  private readonly links: RedisLinks;
  private readonly messageHistory: RedisHistory;
  private readonly presence: RedisPresence;
  private readonly listener: RedisListener;
  private readonly publishes: RedisPublishBatcher;
  private timers: NodeJS.Timeout[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private everReady = false;
  private epochs = 0;
  private started?: Promise<void>;

  constructor(private readonly options: RedisEngineOptions) {
    this.retention = { ...DEFAULT_RETENTION, ...pickRetention(options) };
    this.nodeTtlMs = options.nodeTtlMs ?? REDIS_NODE_TTL_MS;
    this.keys = new RedisKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.log = options.log ?? processLog;
    const commandTimeoutMs = options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
    this.links = (options.links ?? redisLinksFor)(options.url, { commandTimeoutMs });
    this.cmd = this.links.cmd;
    this.messageHistory = new RedisHistory(this.cmd, this.keys, this.retention);
    this.presence = new RedisPresence(this.cmd, this.keys, { nodeId: this.nodeId, nodeTtlMs: this.nodeTtlMs, log: this.log, publish: this.links.publish });
    this.listener = new RedisListener(this.links.sub, this.keys, this.messageHistory, this.log, commandTimeoutMs);
    this.publishes = new RedisPublishBatcher({
      deadlineMs: commandTimeoutMs,
      run: (...args) => this.cmd.hubbubPublishBatch(...args),
      acrossChannels: this.links.batchAcrossChannels,
      dedupWindowMs: this.retention.dedupWindowMs,
      epochCandidate: () => this.epochCandidate(),
    });
  }

  async start(events: EngineEvents): Promise<void> {
    this.listener.start(events);
    this.links.sub.onResubscribed(() => void this.afterReconnect('sub'));
    this.cmd.on('ready', () => void this.afterReconnect('cmd'));
    // ioredis rejects connect() with a bare "Connection is closed." and then retries forever: keep the
    // last real error to say why, and give up for good, disconnecting both clients, past the deadline.
    let lastError: Error | undefined;
    const remember = (err: Error) => (lastError = err);
    for (const link of this.links.links) link.on('error', remember);
    this.started = Promise.all(this.links.links.map((link) => link.connect())).then(() => {});
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
      this.disconnect();
      throw new HubbubError(ErrorCode.Bootstrap, `cannot reach Redis at ${redactUrl(this.options.url)} (${lastError?.message ?? (err as Error).message})`);
    } finally {
      clearTimeout(deadline);
      for (const link of this.links.links) link.off('error', remember);
    }
    this.timers = [this.everyThirdOfTtl(() => this.heartbeat(), 'heartbeat'), this.everyThirdOfTtl(() => this.presence.reapDeadNodes(), 'reaping dead nodes')];
  }

  /** Background work repeated three times per node TTL; a failed round is logged and the next one tries again. */
  private everyThirdOfTtl(work: () => Promise<void>, what: string): NodeJS.Timeout {
    const timer = setInterval(
      () => void work().catch((err) => this.log.debug({ err }, `${what} failed (Redis did not answer): the next round tries again`)),
      Math.max(200, Math.floor(this.nodeTtlMs / 3)),
    );
    timer.unref();
    return timer;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    // Never started, or its start failed (and disconnected): there is nothing to let go of, and a
    // cluster client asked anything while it disconnects never answers.
    if (!this.everReady) return this.disconnect();
    // Presence changes under way (the leaves of connections closed by a drain) finish first: cutting the
    // link between their script and their announcement would leave other nodes' clients never told.
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS))]);
    // Leave presence cleanly so other nodes need not wait for the TTL.
    await this.presence.leaveAll();
    await this.cmd.del(this.keys.node(this.nodeId)).catch(() => {}); // shutting down: the heartbeat key expires with its TTL anyway
    this.disconnect();
  }

  private disconnect(): void {
    for (const link of this.links.links) link.disconnect();
  }

  /** The nodes whose heartbeat key is alive; on a cluster those keys are spread over the masters, each asked. */
  async nodes(): Promise<string[]> {
    const perHolder = await orUnavailable(() => Promise.all(this.links.keyHolders().map((holder) => holder.keys(this.keys.allNodes()))));
    return perHolder.flat().map((k) => this.keys.nodeIdOf(k)).sort();
  }

  async ping(): Promise<void> {
    await orUnavailable(() => this.cmd.ping());
  }

  publish(channelKey: string, draft: MessageDraft): Promise<PublishResult> {
    const keys = this.keys.channel(channelKey);
    const bounds = retentionFor(this.retention, channelKey);
    const { connectionId, dedupScope, ...rest } = draft;
    let body: string;
    try {
      body = JSON.stringify({ ...rest, ...(connectionId ? { connectionId } : {}), timestamp: Date.now() });
    } catch (err) {
      return Promise.reject(err as Error); // data JSON cannot hold: the caller hears it as from any publish
    }
    const publishing = this.publishes.publish({
      channelKey,
      // Neither a client id nor a dedup scope holds `|`: the first one ends the scope.
      keys: [keys.seq, keys.epoch, keys.history, `${keys.dedup}${dedupScope ?? draft.clientId ?? ''}|${draft.messageId}`, keys.pubsub],
      body,
      historyLimit: bounds.historyLimit,
      retentionMs: Math.max(bounds.historyTtlMs, 1000),
      ephemeral: draft.ephemeral === true,
    });
    // Answered once this node's own subscribers have the message, as on the embedded engine: a
    // connection that unsubscribes right behind its answered publishes still gets them.
    return publishing.then((result) => {
      const delivered = result.duplicate ? undefined : this.listener.delivered(channelKey, result.seq, body);
      return delivered ? delivered.then(() => result) : result;
    });
  }

  /**
   * A new stream's epoch, should a publish of a script call start one: unique per node (the node id)
   * and per call (a counter), without the cost of random bytes on every call.
   */
  private epochCandidate(): string {
    return `${this.nodeId}.${(this.epochs++).toString(36)}`;
  }

  /** Resolves once this node receives the channel's messages, so a subscriber can then take its cursor. */
  listen(channelKey: string): Promise<void> {
    return this.listener.listen(channelKey, this.started);
  }

  unlisten(channelKey: string): void {
    this.listener.unlisten(channelKey);
  }

  presenceEnter(channelKey: string, member: PresenceMember): Promise<PresenceOutcome> {
    return this.tracked(this.presence.enter(channelKey, member));
  }

  async presenceLeave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceOutcome> {
    return this.tracked(this.presence.leave(channelKey, clientId, connectionId));
  }

  /** A presence change in flight, which `close()` lets finish (script and announcement both). */
  private tracked<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work)).catch(() => {}); // the caller gets `work` and hears its failure: this copy of it would only go unhandled
    return work;
  }

  async presenceMembers(channelKey: string): Promise<PresenceMember[]> {
    return (await this.presenceSync(channelKey)).members;
  }

  presenceSync(channelKey: string): Promise<PresenceSync> {
    return this.presence.sync(channelKey);
  }

  presenceSnapshot(channelKey: string): Promise<TimedPresenceMember[]> {
    return this.presence.snapshot(channelKey);
  }

  recover(channelKey: string, fromSerial: number, epoch?: string, maxBytes?: number): Promise<Recovery> {
    return this.messageHistory.recover(channelKey, fromSerial, epoch, maxBytes);
  }

  history(channelKey: string, query: HistoryQuery): Promise<HistoryPage> {
    return this.messageHistory.page(channelKey, query);
  }

  position(channelKey: string): Promise<{ seq: number; epoch: string }> {
    return this.messageHistory.position(channelKey);
  }

  private async afterReconnect(which: 'sub' | 'cmd'): Promise<void> {
    if (!this.everReady) return;
    if (which === 'sub') return this.listener.resubscribe();
    // Redis may have restarted empty: register this node and its presence again.
    await this.heartbeat().catch((err) => this.log.debug({ err }, 'heartbeat after reconnect failed (Redis did not answer): the next round tries again'));
    await this.presence.registerAgain();
  }

  /**
   * Refresh this node's key. Finding it gone means it expired while this node was cut off from Redis
   * without a disconnect to tell it (a partition that drops packets): other nodes may have reaped its
   * members meanwhile, so they go in again, now and at the next beat too (a reaper round that saw the
   * key gone may still be letting go of them).
   */
  private async heartbeat(): Promise<void> {
    const key = this.keys.node(this.nodeId);
    const refreshed = (await this.cmd.set(key, String(Date.now()), 'PX', this.nodeTtlMs, 'XX')) === 'OK';
    if (!refreshed) {
      await this.cmd.set(key, String(Date.now()), 'PX', this.nodeTtlMs);
      this.registerBeats = 2;
    }
    if (this.registerBeats > 0 && this.everReady) {
      this.registerBeats--;
      await this.presence.registerAgain();
    }
  }
}

function pickRetention(o: Partial<RetentionOptions>): Partial<RetentionOptions> {
  const out: Partial<RetentionOptions> = {};
  if (o.historyLimit !== undefined) out.historyLimit = o.historyLimit;
  if (o.historyTtlMs !== undefined) out.historyTtlMs = o.historyTtlMs;
  if (o.dedupWindowMs !== undefined) out.dedupWindowMs = o.dedupWindowMs;
  if (o.namespaces !== undefined) out.namespaces = o.namespaces;
  return out;
}
