/**
 * The Redis engine sends a turn's publishes to Redis together (engine/redis-publish-batch.ts): one
 * script call on one Redis, one per channel on a cluster. Batching must keep what the Engine contract
 * promises of each publish: serials in call order per channel, contiguous, delivered in order to every
 * node; a resend collapsed even when it is in the same batch; a publish that fails failing alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisEngine } from '../src/engine/redis.js';
import { RedisPublishBatcher } from '../src/engine/redis-publish-batch.js';
import { PUBLISH_KEYS } from '../src/engine/redis-scripts.js';
import type { StoredMessage } from '../src/core/engine.js';
import { TestRedis, redisAvailable } from '../../../test/support/redis.js';
import { TestRedisCluster, redisClusterAvailable } from '../../../test/support/redis-cluster.js';

const CHANNELS = ['app/a', 'app/b', 'app/c', 'app/d'];

async function until(check: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Two engines on one deployment, B listening on every channel, recording what it is delivered. */
async function pair(url: string) {
  const prefix = `batch-${randomBytes(4).toString('hex')}`;
  const a = new RedisEngine({ url, prefix });
  const b = new RedisEngine({ url, prefix });
  const delivered = new Map<string, StoredMessage[]>();
  await a.start({ message: () => undefined, presence: () => undefined });
  await b.start({ message: (ck, m) => void (delivered.get(ck) ?? delivered.set(ck, []).get(ck)!).push(m), presence: () => undefined });
  await Promise.all(CHANNELS.map((c) => b.listen(c)));
  return { a, b, prefix, delivered, close: () => Promise.all([a.close(), b.close()]) };
}

const draft = (i: number, over: Record<string, unknown> = {}) => ({ name: 'n', data: { i }, messageId: `m-${i}`, clientId: 'ada', ...over });

function behavesLikeOnePublishAtATime(url: () => string) {
  it('keeps call order per channel across concurrent publishes of two nodes in the same turns, contiguous and delivered in order', async () => {
    const { a, b, delivered, close } = await pair(url());
    try {
      const PER = 60;
      // All issued in one turn on each node: they go to Redis batched.
      const calls = CHANNELS.flatMap((ch) => Array.from({ length: PER }, (_, i) => ({ ch, engine: i % 2 ? a : b, id: `${ch}-${i}` })));
      const results = await Promise.all(calls.map((c) => c.engine.publish(c.ch, draft(0, { messageId: c.id, data: { id: c.id } }))));
      for (const ch of CHANNELS) {
        // Each node's own publishes got serials in the order it called publish.
        for (const engine of [a, b]) {
          const mine = calls.map((c, k) => ({ c, r: results[k] })).filter(({ c }) => c.ch === ch && c.engine === engine);
          const seqs = mine.map(({ r }) => r.seq!);
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
        }
        const all = calls.map((c, k) => ({ c, r: results[k] })).filter(({ c }) => c.ch === ch).map(({ r }) => r.seq!);
        expect([...all].sort((x, y) => x - y)).toEqual(Array.from({ length: PER }, (_, i) => i + 1));
      }
      await until(() => CHANNELS.every((ch) => (delivered.get(ch)?.length ?? 0) === PER), 'every message delivered to B');
      for (const ch of CHANNELS) {
        const got = delivered.get(ch)!;
        expect(got.map((m) => m.seq)).toEqual(Array.from({ length: PER }, (_, i) => i + 1));
        // What was delivered under a serial is the message that publish was given that serial for.
        for (const m of got) {
          const k = results.findIndex((r, j) => calls[j].ch === ch && r.seq === m.seq);
          expect((m.data as { id: string }).id).toBe(calls[k].id);
        }
      }
    } finally {
      await close();
    }
  });

  it('collapses a resend in the same batch, and across nodes, into the first one', async () => {
    const { a, b, delivered, close } = await pair(url());
    try {
      const [first, again, elsewhere, other] = await Promise.all([
        a.publish('app/a', draft(1)),
        a.publish('app/a', draft(1)),
        b.publish('app/a', draft(1)),
        a.publish('app/a', draft(2)),
      ]);
      // Which node's batch reaches Redis first is a race: one of the two has the message, the other's is a resend.
      expect([first, elsewhere].filter((r) => !r.duplicate)).toHaveLength(1);
      expect([first.seq, elsewhere.seq]).toEqual([1, 1]);
      expect(again).toEqual({ seq: 1, duplicate: true });
      expect(other).toEqual({ seq: 2, duplicate: false });
      await until(() => delivered.get('app/a')?.length === 2, 'two messages delivered');
      expect((await a.history('app/a', { limit: 10, direction: 'forwards' })).messages.map((m) => m.messageId)).toEqual(['m-1', 'm-2']);
      // An ephemeral resend is collapsed too, and has no serial.
      const [e1, e2] = await Promise.all([a.publish('app/b', draft(3, { ephemeral: true })), a.publish('app/b', draft(3, { ephemeral: true }))]);
      expect(e1).toEqual({ seq: undefined, duplicate: false });
      expect(e2).toEqual({ seq: undefined, duplicate: true });
    } finally {
      await close();
    }
  });
}

describe.runIf(redisAvailable())('Redis engine: publishes batched per turn, on one Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.stop());

  behavesLikeOnePublishAtATime(() => redis.url);

  it("sends a turn's publishes of many channels as one script call", async () => {
    const { a, close } = await pair(redis.url);
    const admin = new Redis(redis.url);
    try {
      await a.publish('app/a', draft(100)); // the script is loaded on the link
      const calls = async () => {
        const stats = await admin.info('commandstats');
        return [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      };
      const before = await calls();
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => a.publish(CHANNELS[i % CHANNELS.length], draft(200 + i))));
      expect(results.every((r) => !r.duplicate && r.seq! > 0)).toBe(true);
      expect((await calls()) - before).toBe(1);
    } finally {
      admin.disconnect();
      await close();
    }
  });

  it('fails only the publish whose history entry Redis refuses, not the others of its batch', async () => {
    const { a, prefix, close } = await pair(redis.url);
    const admin = new Redis(redis.url);
    try {
      for (let i = 0; i < 3; i++) await a.publish('app/a', draft(300 + i));
      // The serial falls behind the stream's last entry (as when Redis evicted the serial key alone).
      await admin.set(`${prefix}:{app/a}:seq`, '1');
      const [refused, fine] = await Promise.allSettled([a.publish('app/a', draft(310)), a.publish('app/b', draft(311))]);
      expect(refused.status).toBe('rejected');
      expect((refused as PromiseRejectedResult).reason).toMatchObject({ statusCode: 503 });
      expect(fine).toMatchObject({ status: 'fulfilled', value: { seq: 1, duplicate: false } });
    } finally {
      admin.disconnect();
      await close();
    }
  });

  it("fails only the publish whose keys Redis refuses (a serial key that is not a number), not the others of its batch", async () => {
    const { a, prefix, close } = await pair(redis.url);
    const admin = new Redis(redis.url);
    try {
      await a.publish('app/a', draft(400));
      await admin.set(`${prefix}:{app/a}:seq`, 'not a number');
      const settled = await Promise.allSettled([a.publish('app/b', draft(401)), a.publish('app/a', draft(402)), a.publish('app/c', draft(403))]);
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((settled[1] as PromiseRejectedResult).reason).toMatchObject({ statusCode: 503, message: expect.stringContaining('wrong type') });
      expect((settled[2] as PromiseFulfilledResult<unknown>).value).toEqual({ seq: 1, duplicate: false });
    } finally {
      admin.disconnect();
      await close();
    }
  });
});

describe.runIf(redisClusterAvailable())('Redis engine: publishes batched per turn and channel, on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
  }, 30_000);
  afterAll(() => cluster?.stop());

  behavesLikeOnePublishAtATime(() => cluster.url);
});

describe('Redis engine: publishes made while a batch is at Redis', () => {
  /** A batcher whose script calls stay unanswered until the test answers them. */
  function gated(acrossChannels = true, deadlineMs = 60_000) {
    const calls: Array<{ count: number; answer(): void; fail(): void }> = [];
    const batcher = new RedisPublishBatcher({
      acrossChannels,
      deadlineMs,
      dedupWindowMs: 1000,
      epochCandidate: () => 'e',
      run: (numKeys) => new Promise<number[]>((resolve, reject) => {
        const count = numKeys / PUBLISH_KEYS;
        calls.push({ count, answer: () => resolve(Array.from({ length: count }, (_, i) => (i + 1) * 2)), fail: () => reject(new Error('gone')) });
      }),
    });
    const publish = (channelKey: string) => batcher.publish({ channelKey, keys: ['s', 'e', 'h', 'd', 'p'], body: '{}', historyLimit: 10, retentionMs: 1000, ephemeral: false });
    return { calls, publish };
  }
  const turn = () => new Promise((r) => setImmediate(r));

  it('wait for it and then go together in one call, however many turns they came in', async () => {
    const { calls, publish } = gated();
    const first = publish('a');
    await turn();
    expect(calls.map((c) => c.count)).toEqual([1]);
    const later: Array<Promise<unknown>> = [];
    for (let t = 0; t < 3; t++) {
      later.push(publish('a'), publish('b'));
      await turn();
    }
    expect(calls.map((c) => c.count)).toEqual([1]);
    calls[0].answer();
    await first;
    await turn();
    expect(calls.map((c) => c.count)).toEqual([1, 6]);
    calls[1].answer();
    expect((await Promise.all(later)).length).toBe(6);
  });

  it('go out after a batch that failed, and fail or succeed on their own', async () => {
    const { calls, publish } = gated();
    const first = publish('a');
    await turn();
    const second = publish('a');
    await turn();
    calls[0].fail();
    await expect(first).rejects.toMatchObject({ statusCode: 503 });
    await turn();
    expect(calls.map((c) => c.count)).toEqual([1, 1]);
    calls[1].answer();
    await expect(second).resolves.toMatchObject({ seq: 1 });
  });

  it("on a cluster wait only for their own channel's call", async () => {
    const { calls, publish } = gated(false);
    void publish('a');
    await turn();
    void publish('a');
    void publish('b');
    await turn();
    // b's call goes out; a's second publish waits for a's first call.
    expect(calls.map((c) => c.count)).toEqual([1, 1]);
    calls[0].answer();
    await turn();
    await turn();
    expect(calls.map((c) => c.count)).toEqual([1, 1, 1]);
  });

  it('fail with 50001 once they have waited the deadline, at Redis or behind a call at Redis; those not yet sent are not sent', async () => {
    const { calls, publish } = gated(true, 50);
    const started = performance.now();
    const first = publish('a');
    await turn();
    const queued = publish('a');
    await expect(first).rejects.toMatchObject({ code: 50001, statusCode: 503, message: expect.stringContaining('--redis-command-timeout') });
    await expect(queued).rejects.toMatchObject({ code: 50001 });
    expect(performance.now() - started).toBeLessThan(500);
    // Redis answers at last: the first call's late answer changes nothing, and the expired publish behind it is dropped.
    calls[0].answer();
    await turn();
    expect(calls.map((c) => c.count)).toEqual([1]);
    const after = publish('a');
    await turn();
    calls[1].answer();
    await expect(after).resolves.toMatchObject({ seq: 1 });
  });
});
