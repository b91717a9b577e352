/**
 * Presence changes as watchers by client id see them, the same on the memory and the Redis engine:
 * what each call returns and what it announces, with presence serials that grow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, PresenceChange } from '../src/engine/engine.js';
import { MemoryEngine } from '../src/engine/memory.js';
import { RedisEngine } from '../src/engine/redis.js';
import { TestRedis, redisAvailable } from '../../../test/support/redis.js';
import { until } from '../../../test/support/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function contract(name: string, make: () => Engine) {
  describe(name, () => {
    let engine: Engine;
    const seen: Array<{ key: string; change: PresenceChange }> = [];
    beforeAll(async () => {
      engine = make();
      await engine.start({ message: () => {}, presence: (key, change) => seen.push({ key, change }) });
    });
    afterAll(() => engine.close());

    it('a connection leaving while another holds the member: update to the remaining data, then leave', async () => {
      const ch = `app/partial-${name}-${Date.now()}`;
      await engine.listen(ch);
      const announced = () => seen.filter((s) => s.key === ch && s.change.action !== null).map((s) => s.change);
      expect((await engine.presenceEnter(ch, { clientId: 'ann', connectionId: 'phone', data: 'phone' })).action).toBe('enter');
      await sleep(5); // the hold written later speaks for the member
      expect((await engine.presenceEnter(ch, { clientId: 'ann', connectionId: 'laptop', data: 'laptop' })).action).toBe('update');
      const partial = await engine.presenceLeave(ch, 'ann', 'laptop');
      expect(partial.action).toBe('update');
      expect((await engine.presenceSync(ch)).members).toEqual([{ clientId: 'ann', connectionId: 'phone', data: 'phone' }]);
      const last = await engine.presenceLeave(ch, 'ann', 'phone');
      expect(last.action).toBe('leave');
      await until(() => announced().length === 4, 'four announced changes');
      const changes = announced();
      expect(changes.map((c) => [c.action, c.member.data])).toEqual([
        ['enter', 'phone'],
        ['update', 'laptop'],
        ['update', 'phone'],
        ['leave', 'phone'],
      ]);
      const serials = changes.map((c) => c.pseq);
      expect([...serials].sort((a, b) => a - b)).toEqual(serials);
      expect(new Set(serials).size).toBe(4);
      expect(last.pseq).toBe(serials[3]);
      expect((await engine.presenceSync(ch)).pseq).toBe(last.pseq);
    });

    it('a leave that matches nothing changes nothing and moves no serial', async () => {
      const ch = `app/none-${name}-${Date.now()}`;
      const before = (await engine.presenceSync(ch)).pseq;
      expect(await engine.presenceLeave(ch, 'nobody', 'c1')).toEqual({ action: null, pseq: before });
    });
  });
}

contract('memory engine', () => new MemoryEngine());

describe.runIf(redisAvailable())('redis engine', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  contract('on a test redis-server', () => new RedisEngine({ url: redis.url }));
});
