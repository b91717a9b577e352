import type { ClusterOptions } from 'ioredis';
import { defineScripts, loadIoredis, redisRetryDelay, type RedisLinkOptions, type RedisLinks } from './redis-clients.js';
import { parseClusterUrl } from './redis-url.js';

/** How often the slot map is asked for again (ioredis's default is 5 s): bounds how long a failover goes unseen. */
const SLOTS_REFRESH_MS = 1000;

/**
 * A Redis Cluster: one ioredis `Cluster` that routes each command to the shard of its keys, and with
 * `shardedSubscribers` keeps one subscriber connection per master for sharded pub/sub. A channel's
 * messages are `SPUBLISH`ed on its shard (inside the publish script, next to its stream) and reach only
 * the nodes subscribed there, so each shard added adds pub/sub capacity.
 *
 * After a failover ioredis learns the new slot owners (a MOVED reply, a lost connection, or the
 * periodic refresh), moves the subscriptions to the new master and says `subscribersReady`: the
 * engine then fetches from the streams what was published while they moved.
 */
export function createClusterLinks(url: string, linkOptions: RedisLinkOptions): RedisLinks {
  const target = parseClusterUrl(url);
  if (typeof target === 'string') throw new Error(`--redis ${target}`);
  const { Cluster } = loadIoredis();
  const options: ClusterOptions = {
    lazyConnect: true,
    // Fail fast while the cluster is down: a publish must say it failed, not wait in a queue.
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    // A batch call's key count is its first argument, which ioredis's auto-pipelining does not read:
    // it would put calls of different shards in one pipeline. Each goes on its own (already one per
    // channel and turn, see redis-publish-batch.ts).
    autoPipeliningIgnoredCommands: ['hubbubPublishBatch'],
    shardedSubscribers: true,
    clusterRetryStrategy: redisRetryDelay,
    // A promoted replica is found within this even when no command hits the old master.
    slotsRefreshInterval: SLOTS_REFRESH_MS,
    redisOptions: {
      maxRetriesPerRequest: 1,
      commandTimeout: linkOptions.commandTimeoutMs,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
  };
  const cluster = defineScripts(new Cluster(target.seeds, options), 'SPUBLISH');
  // Without a listener ioredis prints every link error to stderr; the requests that fail report it themselves.
  cluster.on('error', () => {});
  cluster.on('node error', () => {});
  /** Channels ioredis holds a subscription for: it makes them again itself on a new master. */
  const held = new Set<string>();
  return {
    cmd: cluster,
    links: [cluster],
    keyHolders: () => (cluster as unknown as InstanceType<typeof Cluster>).nodes('master'),
    batchAcrossChannels: false,
    publish: (channel, payload) => cluster.spublish(channel, payload),
    sub: {
      // SSUBSCRIBE takes channels of one slot per call: one call per channel, pipelined by ioredis.
      async subscribe(channels) {
        await Promise.all(
          channels
            .filter((c) => !held.has(c))
            .map(async (c) => {
              await cluster.ssubscribe(c);
              held.add(c);
            }),
        );
      },
      async unsubscribe(channel) {
        held.delete(channel);
        await cluster.sunsubscribe(channel);
      },
      onMessage: (fn) => void cluster.on('smessage', fn),
      onResubscribed: (fn) => void cluster.on('subscribersReady', fn),
    },
  };
}
