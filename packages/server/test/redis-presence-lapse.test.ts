/**
 * A node cut off from Redis for longer than its TTL, with no disconnect to tell it (a partition that
 * drops packets: ioredis just waits), has its heartbeat key expire, and another node's reaper makes its
 * members leave while their connections are still up. When its heartbeat gets through again it must
 * put its members back, as it does after a reconnect: otherwise they stay gone for good. Found by the
 * chaos run (test/chaos, seeds 7 and 8: a node partitioned from Redis for 2 node TTLs lost its members
 * from presence permanently). Here node A reaches Redis through a proxy that partitions it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { RedisEngine } from '../src/engine/redis.js';
import type { PresenceChange } from '../src/core/engine.js';
import { TestRedis, redisAvailable } from '../../../test/support/redis.js';
import { FaultProxy } from '../../../test/support/fault-proxy.js';

const NODE_TTL_MS = 1200;
const noEvents = { message: () => undefined, presence: () => undefined };

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(redisAvailable())('Redis engine: a node whose heartbeat lapsed', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.stop());

  it('registers its presence members again once its heartbeat gets through, and watchers are told', async () => {
    const prefix = `lapse-${randomBytes(4).toString('hex')}`;
    const link = await FaultProxy.start(redis.port);
    const a = new RedisEngine({ url: `redis://127.0.0.1:${link.port}`, prefix, nodeTtlMs: NODE_TTL_MS });
    const b = new RedisEngine({ url: redis.url, prefix, nodeTtlMs: NODE_TTL_MS });
    try {
      await a.start(noEvents);
      // What watchers through B are told: the reaper's leave must be followed by an enter.
      const told: string[] = [];
      await b.start({ message: () => undefined, presence: (_ck: string, c: PresenceChange) => void told.push(`${c.hold} ${c.holder.clientId}`) });
      await b.listen('app/room');
      await a.presenceEnter('app/room', { clientId: 'ada', connectionId: 'c1' });
      const members = async () => (await b.presenceSnapshot('app/room')).map((m) => m.clientId);
      expect(await members()).toEqual(['ada']);

      // A's heartbeats stop reaching Redis; its key expires and B's reaper makes ada leave.
      link.partition();
      await until(async () => (await members()).length === 0, "B's reaper to make ada leave");
      await new Promise((r) => setTimeout(r, NODE_TTL_MS / 2));
      // The link heals with nothing having told A: its next heartbeat finds its key gone and puts ada back.
      link.heal();
      await until(async () => (await members()).join() === 'ada', "ada back in presence after A's heartbeat");
      // And she stays: the reaper sees A alive again.
      await new Promise((r) => setTimeout(r, NODE_TTL_MS));
      expect(await members()).toEqual(['ada']);
      expect(told).toEqual(['enter ada', 'leave ada', 'enter ada']);
    } finally {
      link.heal();
      await a.close();
      await b.close();
      await link.stop();
    }
  });
});
