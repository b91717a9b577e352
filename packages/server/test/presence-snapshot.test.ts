/**
 * `Engine.presenceSnapshot`: the members `presenceMembers` lists, each with when it last entered or
 * updated (REST presence reads show it). Same cases for the memory and the Redis engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine/engine.js';
import { MemoryEngine } from '../src/engine/memory.js';
import { RedisEngine } from '../src/engine/redis.js';
import { TestRedis, redisAvailable } from '../../../test/support/redis.js';

const events = { message: () => {}, presence: () => {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function contract(name: string, make: () => Engine) {
  describe(name, () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = make();
      await engine.start(events);
    });
    afterAll(() => engine.close());

    it('lists the members with the time of their last enter or update', async () => {
      const ch = `app/snap-${name}`;
      const t0 = Date.now();
      await engine.presenceEnter(ch, { clientId: 'ann', connectionId: 'c1', data: { mood: 'ok' } });
      await sleep(20);
      const t1 = Date.now();
      await engine.presenceEnter(ch, { clientId: 'ben', connectionId: 'c2' });
      const snap = await engine.presenceSnapshot(ch);
      const byClient = Object.fromEntries(snap.map((m) => [m.clientId, m]));
      expect(byClient.ann).toEqual({ clientId: 'ann', connectionId: 'c1', data: { mood: 'ok' }, timestamp: expect.any(Number) });
      expect(byClient.ann.timestamp).toBeGreaterThanOrEqual(t0);
      expect(byClient.ann.timestamp).toBeLessThan(t1);
      expect(byClient.ben.timestamp).toBeGreaterThanOrEqual(t1);

      await sleep(20);
      const t2 = Date.now();
      await engine.presenceEnter(ch, { clientId: 'ann', connectionId: 'c1', data: { mood: 'busy' } });
      const updated = (await engine.presenceSnapshot(ch)).find((m) => m.clientId === 'ann')!;
      expect(updated.data).toEqual({ mood: 'busy' });
      expect(updated.timestamp).toBeGreaterThanOrEqual(t2);

      // presenceMembers keeps its shape: no timestamp.
      expect((await engine.presenceMembers(ch)).find((m) => m.clientId === 'ann')).toEqual({ clientId: 'ann', connectionId: 'c1', data: { mood: 'busy' } });
      await engine.presenceLeave(ch, 'ben', 'c2');
      expect((await engine.presenceSnapshot(ch)).map((m) => m.clientId)).toEqual(['ann']);
      expect(await engine.presenceSnapshot('app/nobody-here')).toEqual([]);
    });
  });
}

contract('MemoryEngine', () => new MemoryEngine());

describe.runIf(redisAvailable())('on Redis', () => {
  let redis: TestRedis;
  let engine: RedisEngine | undefined;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    await engine?.close().catch(() => {});
    await redis?.stop();
  });
  contract('RedisEngine', () => (engine = new RedisEngine({ url: redis.url })));
});
