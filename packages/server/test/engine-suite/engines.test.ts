/**
 * The engine suite on every engine: memory (one node), the in-process bus (three nodes), Redis
 * (three engines on one test redis-server) and Redis Cluster (three engines on a test cluster of 3
 * masters and 3 replicas, sharded pub/sub). The last case prints how many cases ran on each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { BusEngine, EngineBus } from '../../src/engine/bus.js';
import { MemoryEngine } from '../../src/engine/memory.js';
import { RedisEngine } from '../../src/engine/redis.js';
import { TestRedis, redisAvailable } from '../../../../test/support/redis.js';
import { TestRedisCluster, redisClusterAvailable } from '../../../../test/support/redis-cluster.js';
import { runEngineSuite, suiteTally } from './suite.js';

runEngineSuite('memory', {
  maxNodes: 1,
  clock: 'fake',
  nodes: (n, retention) => Array.from({ length: n }, () => new MemoryEngine(retention)),
});

runEngineSuite('bus', {
  maxNodes: 3,
  clock: 'fake',
  nodes: (n, retention) => {
    const bus = new EngineBus(retention);
    return Array.from({ length: n }, () => new BusEngine(bus));
  },
});

const withRedis = redisAvailable();
if (withRedis) {
  let redis: TestRedis | undefined;
  describe('on a test redis-server', () => {
    beforeAll(async () => {
      redis = await TestRedis.start();
    });
    afterAll(() => redis?.stop());
    runEngineSuite('redis', {
      maxNodes: 3,
      clock: 'real',
      without: { appHistoryBytes: 'Redis bounds history per channel (MAXLEN, TTL) and leaves the rest to its maxmemory' },
      // A key prefix of its own per deployment: nothing is shared with another case's nodes.
      nodes: (n, retention) => {
        const prefix = `suite-${randomBytes(4).toString('hex')}`;
        return Array.from({ length: n }, () => new RedisEngine({ url: redis!.url, prefix, ...retention }));
      },
    });
  });
} else {
  describe.skip('engine suite on redis: SKIPPED, redis-server not found', () => it('every case', () => {}));
}

const withCluster = redisClusterAvailable();
if (withCluster) {
  let cluster: TestRedisCluster | undefined;
  describe('on a test Redis Cluster (3 masters, 3 replicas)', () => {
    beforeAll(async () => {
      cluster = await TestRedisCluster.start();
    }, 30_000);
    afterAll(() => cluster?.stop());
    runEngineSuite('redis-cluster', {
      maxNodes: 3,
      clock: 'real',
      without: { appHistoryBytes: 'Redis bounds history per channel (MAXLEN, TTL) and leaves the rest to its maxmemory' },
      nodes: (n, retention) => {
        const prefix = `suite-${randomBytes(4).toString('hex')}`;
        return Array.from({ length: n }, () => new RedisEngine({ url: cluster!.url, prefix, ...retention }));
      },
    });
  });
} else {
  describe.skip('engine suite on redis-cluster: SKIPPED, redis-server or redis-cli not found', () => it('every case', () => {}));
}

it('engine suite: the same cases ran on every engine', () => {
  const tally = [...suiteTally()];
  const line = tally.map(([name, t]) => `${name} ${t.ran}`).join(', ');
  const skips = tally.flatMap(([name, t]) => {
    const byReason = new Map<string, number>();
    for (const s of t.skipped) byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1);
    return [...byReason].map(([reason, count]) => `  ${name} skips ${count}: ${reason}`);
  });
  const redis = (withRedis ? '' : ', redis SKIPPED (no redis-server)') + (withCluster ? '' : ', redis-cluster SKIPPED (no redis-server or redis-cli)');
  console.log([`engine suite: ${line}${redis} (of ${tally[0][1].cases} cases)`, ...skips].join('\n'));
  for (const [, t] of tally) expect(t.ran + t.skipped.length).toBe(t.cases);
});
