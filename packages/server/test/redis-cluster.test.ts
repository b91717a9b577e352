/**
 * The Redis engine on a Redis Cluster, below the session layer: the `--redis` URL forms, the keys of
 * every channel on the channel's shard, subscriptions moving with a shard (link cut, failover) and the
 * gap fill from the stream that follows.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { HubbubError } from '@hubbub/protocol';
import type { StoredMessage } from '../src/core/engine.js';
import { parseArgs } from '../src/cli/args.js';
import { SERVE } from '../src/cli/options.js';
import { RedisEngine } from '../src/engine/redis.js';
import { parseClusterUrl, redisUrlProblem } from '../src/engine/redis-url.js';
import { redactUrl } from '../src/core/redact-url.js';
import { TestRedisCluster, redisClusterAvailable } from '../../../test/support/redis-cluster.js';
import { freePort } from '../../../test/support/redis.js';
import { until } from '../../../test/support/wait.js';
import { draft } from './engine-suite/fixtures.js';

describe('--redis accepts a Redis Cluster', () => {
  it('parses seed nodes, credentials and TLS from redis+cluster:// and rediss+cluster://', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001,[::1]:7002')).toEqual({
      seeds: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
    });
    expect(parseClusterUrl('rediss+cluster://app:p%40ss@redis-a,redis-b:6380/')).toEqual({
      seeds: [
        { host: 'redis-a', port: 6379 },
        { host: 'redis-b', port: 6380 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
  });

  it('the --redis check takes both forms, refuses others, and never shows a password', () => {
    const opts = (redis: string) => parseArgs(['--redis', redis], SERVE, {}).values.redis;
    expect(opts('redis+cluster://127.0.0.1:7000,127.0.0.1:7001')).toBe('redis+cluster://127.0.0.1:7000,127.0.0.1:7001');
    expect(opts('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redisUrlProblem('redis+cluster://h:1,:2')).toMatch(/no host:port in ":2"/);
    expect(redisUrlProblem('redis+cluster://:secret@h:99999')).toMatch(/port 99999 out of range/);
    expect(redisUrlProblem('redis+cluster://:secret@h:99999')).not.toContain('secret');
    expect(redisUrlProblem('http://h:1')).toMatch(/redis\+cluster:\/\/host:port,host:port/);
    expect(() => parseArgs(['--redis', 'memcached://x'], SERVE, {})).toThrow(/--redis/);
    expect(redactUrl('redis+cluster://user:secret@h:1,h:2')).toBe('redis+cluster://user:***@h:1,h:2');
    expect(redactUrl('redis://:secret@h:1')).toBe('redis://:***@h:1');
  });

  it('a cluster no seed of which answers fails start() with 50001, password hidden, and close() returns', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const engine = new RedisEngine({ url: `redis+cluster://:secret@127.0.0.1:${p1},127.0.0.1:${p2}` });
    const err = await engine.start({ message: () => {}, presence: () => {} }).then(() => undefined, (e: HubbubError) => e);
    expect(err).toMatchObject({ code: 50001 });
    expect(err!.message).toContain(`cannot reach Redis at redis+cluster://:***@127.0.0.1:${p1},127.0.0.1:${p2}`);
    expect(err!.message).not.toContain('secret');
    await engine.close();
  });
});

describe.runIf(redisClusterAvailable())('the Redis engine on a test cluster (3 masters, 3 replicas)', () => {
  let cluster: TestRedisCluster;
  const engines: RedisEngine[] = [];

  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
  }, 30_000);
  afterEach(async () => {
    await Promise.all(engines.splice(0).map((e) => e.close().catch(() => {})));
  });
  afterAll(() => cluster?.stop());

  /** Started engines of one deployment, and what each delivered. */
  async function deploy(n: number): Promise<Array<{ engine: RedisEngine; got: Map<string, StoredMessage[]> }>> {
    const prefix = `t-${randomBytes(4).toString('hex')}`;
    const out = [];
    for (let i = 0; i < n; i++) {
      const engine = new RedisEngine({ url: cluster.url, prefix, nodeTtlMs: 3000 });
      const got = new Map<string, StoredMessage[]>();
      await engine.start({
        message: (ck, m) => void (got.get(ck) ?? got.set(ck, []).get(ck)!).push(m),
        presence: () => {},
      });
      engines.push(engine);
      out.push({ engine, got });
    }
    return out;
  }

  it('keeps every key of a channel in the channel’s slot, and its fan-out on that shard', async () => {
    const [a] = await deploy(1);
    const ck = 'app/slot-check';
    await a.engine.listen(ck);
    await a.engine.publish(ck, draft({ clientId: 'alice' }));
    await a.engine.presenceEnter(ck, { clientId: 'alice', connectionId: 'c1' });
    const prefix = (a.engine as unknown as { keys: { prefix: string } }).keys.prefix;
    const slot = await cluster.keyslot(`${prefix}:{${ck}}:ps`);
    const master = await cluster.masterOfSlot(slot);
    const keys = (await cluster.command(master, 'KEYS', `${prefix}:{${ck}}*`)) as string[];
    const kinds = keys.map((k) => k.slice(`${prefix}:{${ck}}:`.length).replace(/^dedup:.*/, 'dedup')).sort();
    expect(kinds).toEqual(['dedup', 'epoch', 'hist', 'pres', 'pseq', 'seq']);
    for (const key of keys) expect(await cluster.keyslot(key)).toBe(slot);
    expect(await cluster.command(master, 'PUBSUB', 'SHARDNUMSUB', `${prefix}:{${ck}}:ps`)).toEqual([`${prefix}:{${ck}}:ps`, 1]);
  });

  it('subscribes again after its shard link is cut, and fetches from the stream what was published meanwhile', async () => {
    const [listener, publisher] = await deploy(2);
    const ck = 'app/cut';
    await listener.engine.listen(ck);
    await publisher.engine.publish(ck, draft());
    await until(() => listener.got.get(ck)?.length === 1, 'the first message');
    const master = await cluster.masterOfSlot(await cluster.keyslot(`{${ck}}`));
    // Every sharded subscriber of that master is dropped; the next two publishes race the resubscribe,
    // and nothing is published after them: only the catch-up from the stream can deliver them.
    await cluster.command(master, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    await publisher.engine.publish(ck, draft());
    await publisher.engine.publish(ck, draft());
    await until(() => listener.got.get(ck)?.length === 3, 'the two published while the link was cut');
    expect(listener.got.get(ck)!.map((m) => m.seq)).toEqual([1, 2, 3]);
    await publisher.engine.publish(ck, draft());
    await until(() => listener.got.get(ck)?.length === 4, 'live again');
    expect(listener.got.get(ck)!.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('after a failover (CLUSTER FAILOVER, then SIGKILL of the old master) listens on the new master and delivers every serial once, in order', async () => {
    const [listener, publisher] = await deploy(2);
    const ck = 'app/failover';
    await listener.engine.listen(ck);
    const slot = await cluster.keyslot(`{${ck}}`);
    const old = await cluster.masterOfSlot(slot);
    let stop = false;
    let acked = 0;
    const traffic = (async () => {
      while (!stop) {
        await publisher.engine.publish(ck, draft()).then(
          () => acked++,
          () => {}, // refused while the shard moves: not acked, so not owed
        );
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await until(() => acked >= 20, 'traffic flowing');
    const promoted = await cluster.replicaOf(old);
    await cluster.failover(promoted);
    await cluster.kill(old);
    await cluster.waitHealthy();
    expect(await cluster.masterOfSlot(slot)).toBe(promoted);
    const before = acked;
    await until(() => acked >= before + 30, 'acked on the promoted master', 15_000);
    stop = true;
    await traffic;
    const [last] = (await publisher.engine.history(ck, { limit: 1, direction: 'backwards' })).messages;
    await until(() => listener.got.get(ck)?.length === last.seq, `${last.seq} delivered`);
    expect(listener.got.get(ck)!.map((m) => m.seq)).toEqual(Array.from({ length: last.seq! }, (_, i) => i + 1));
    const [channelName, subscribers] = (await cluster.command(promoted, 'PUBSUB', 'SHARDNUMSUB', listenerChannel(listener.engine, ck))) as [string, number];
    expect([channelName, subscribers]).toEqual([listenerChannel(listener.engine, ck), 1]);
  }, 40_000);
});

function listenerChannel(engine: RedisEngine, ck: string): string {
  return `${(engine as unknown as { keys: { prefix: string } }).keys.prefix}:{${ck}}:ps`;
}
