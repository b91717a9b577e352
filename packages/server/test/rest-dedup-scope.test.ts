/**
 * Whose message ids collapse: a REST publish by an API key without a client id is deduplicated
 * among that key's publishes only, so two backends of one app (two keys) never suppress each other.
 * A token's publishes, and a key's that name a client id, keep that client id's scope. Same cases
 * on the memory and the Redis engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, StoredMessage } from '../src/core/engine.js';
import { MemoryEngine } from '../src/engine/memory.js';
import { RedisEngine } from '../src/engine/redis.js';
import { RestApi } from '../src/service/rest.js';
import { CredentialRateLimiter } from '../src/service/rest-rate-limit.js';
import type { RestIdentity } from '../src/service/authenticate.js';
import type { TokenAuthority } from '../src/service/tokens.js';
import { TestRedis, redisAvailable } from '../../../test/support/redis.js';
import { until } from '../../../test/support/wait.js';

const viaKey = (keyName: string, clientId = 'anon-made-up'): RestIdentity => {
  const [app, keyId] = keyName.split('.');
  return { app, clientId, viaKey: true, key: { app, keyId, name: keyName } };
};
const viaToken = (app: string, clientId: string): RestIdentity => ({ app, clientId, viaKey: false });

function contract(name: string, make: () => Engine) {
  describe(name, () => {
    let engine: Engine;
    let rest: RestApi;
    const delivered: StoredMessage[] = [];
    let run = 0;
    beforeAll(async () => {
      engine = make();
      await engine.start({ message: (_key, m) => delivered.push(m), presence: () => {} });
      rest = new RestApi({
        engine,
        tokens: {} as TokenAuthority,
        maxTokenTtlMs: 60_000,
        notify: () => {},
        publishLimit: new CredentialRateLimiter({ ratePerSecond: 1000, burst: 1000 }),
        readLimit: new CredentialRateLimiter({ ratePerSecond: 1000, burst: 1000 }),
        maxPageBytes: 256 * 1024,
      });
    });
    afterAll(() => engine.close());

    /** A channel of its own per case, listened to, so deliveries can be checked. */
    async function channel(): Promise<string> {
      const ch = `dedup-${name}-${++run}-${Date.now()}`;
      await engine.listen(`app1/${ch}`);
      return ch;
    }

    it('engine: a draft\'s dedupScope is used instead of its client id', async () => {
      const key = `app1/${await channel()}`;
      const a = await engine.publish(key, { name: 'n', data: 1, messageId: 'same', dedupScope: 'scope-a' });
      const b = await engine.publish(key, { name: 'n', data: 2, messageId: 'same', dedupScope: 'scope-b' });
      const again = await engine.publish(key, { name: 'n', data: 3, messageId: 'same', dedupScope: 'scope-a' });
      expect([a.duplicate, b.duplicate, again.duplicate]).toEqual([false, false, true]);
      expect(again.seq).toBe(a.seq);
      // Without a scope, the client id is the scope as before.
      const c1 = await engine.publish(key, { name: 'n', data: 4, messageId: 'other', clientId: 'ann' });
      const c2 = await engine.publish(key, { name: 'n', data: 5, messageId: 'other', clientId: 'ann' });
      expect([c1.duplicate, c2.duplicate]).toEqual([false, true]);
    });

    it('two API keys of one app publishing without a client id never collapse each other\'s ids', async () => {
      const ch = await channel();
      const first = (await rest.publish(viaKey('app1.backendA'), ch, { name: 'order', data: 'from A', id: 'order-1' })) as { duplicate: boolean; serial: number };
      const second = (await rest.publish(viaKey('app1.backendB'), ch, { name: 'order', data: 'from B', id: 'order-1' })) as { duplicate: boolean; serial: number };
      expect(first.duplicate).toBe(false);
      expect(second.duplicate).toBe(false);
      expect(second.serial).toBe(first.serial + 1);
      // The same key resending is still collapsed.
      const resend = (await rest.publish(viaKey('app1.backendA'), ch, { name: 'order', data: 'from A', id: 'order-1' })) as { duplicate: boolean; serial: number };
      expect(resend).toMatchObject({ duplicate: true, serial: first.serial });
      // An array publish too.
      const batchA = (await rest.publish(viaKey('app1.backendA'), ch, [{ name: 'x', id: 'batch-1' }, { name: 'y' }])) as { duplicate: boolean };
      const batchB = (await rest.publish(viaKey('app1.backendB'), ch, [{ name: 'x', id: 'batch-1' }, { name: 'y' }])) as { duplicate: boolean };
      expect([batchA.duplicate, batchB.duplicate]).toEqual([false, false]);

      // What subscribers and history show does not change: no client id, no trace of the scope.
      await until(() => delivered.filter((m) => m.messageId === 'order-1').length === 2, 'both orders delivered');
      for (const m of delivered.filter((d) => d.messageId === 'order-1')) {
        expect(m.clientId).toBeUndefined();
        expect(m).not.toHaveProperty('dedupScope', expect.anything());
        expect(JSON.stringify(m)).not.toContain('backend');
      }
      const history = (await rest.history(viaKey('app1.reader'), ch, new URLSearchParams({ direction: 'forwards' }))).body as Array<Record<string, unknown>>;
      expect(history.filter((m) => m.id === 'order-1').map((m) => m.data)).toEqual(['from A', 'from B']);
      expect(history.every((m) => m.clientId === undefined && !('dedupScope' in m))).toBe(true);
    });

    it('a key scope never meets a client id, even one spelled like the key', async () => {
      const ch = await channel();
      // Client ids may contain `.` and `:`: a token whose client id looks like the key's name or scope.
      const byKey = (await rest.publish(viaKey('app1.k1'), ch, { name: 'n', id: 'look-alike' })) as { duplicate: boolean };
      const byLookAlike = (await rest.publish(viaToken('app1', 'app1.k1'), ch, { name: 'n', id: 'look-alike' })) as { duplicate: boolean };
      const byPrefixed = (await rest.publish(viaToken('app1', 'key:app1.k1'), ch, { name: 'n', id: 'look-alike' })) as { duplicate: boolean };
      expect([byKey.duplicate, byLookAlike.duplicate, byPrefixed.duplicate]).toEqual([false, false, false]);
    });

    it("a token keeps its client id scope; a key naming that client id has a scope of its own (neither claims the other's ids)", async () => {
      const ch = await channel();
      const token = (await rest.publish(viaToken('app1', 'ann'), ch, { name: 'n', id: 'ann-1' })) as { duplicate: boolean; serial: number };
      const sameToken = (await rest.publish(viaToken('app1', 'ann'), ch, { name: 'n', id: 'ann-1' })) as { duplicate: boolean };
      const keyAsAnn = (await rest.publish(viaKey('app1.k1'), ch, { name: 'n', id: 'ann-1', clientId: 'ann' })) as { duplicate: boolean; serial: number };
      const otherClient = (await rest.publish(viaToken('app1', 'ben'), ch, { name: 'n', id: 'ann-1' })) as { duplicate: boolean };
      expect([token.duplicate, sameToken.duplicate, keyAsAnn.duplicate, otherClient.duplicate]).toEqual([false, true, false, false]);
      expect(keyAsAnn.serial).toBeGreaterThan(token.serial);
      const keyAsAnnAgain = (await rest.publish(viaKey('app1.k1'), ch, { name: 'n', id: 'ann-1', clientId: 'ann' })) as { duplicate: boolean };
      expect(keyAsAnnAgain.duplicate).toBe(true);
      // The key's own scope (no client id) is apart from ann's.
      const keyAlone = (await rest.publish(viaKey('app1.k1'), ch, { name: 'n', id: 'ann-1' })) as { duplicate: boolean };
      expect(keyAlone.duplicate).toBe(false);
    });
  });
}

contract('memory', () => new MemoryEngine());

describe.runIf(redisAvailable())('on Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.stop());
  contract('redis', () => new RedisEngine({ url: redis.url }));
});
