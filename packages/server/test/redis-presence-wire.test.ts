import { describe, expect, it } from 'vitest';
import type { PresenceChange } from '../src/core/engine.js';
import { presenceViews } from '../src/core/presence-views.js';
import { Redis } from 'ioredis';
import { decodePresenceChange, encodePresenceChange } from '../src/engine/redis-presence-wire.js';
import { RedisEngine } from '../src/engine/redis.js';
import { RedisKeys } from '../src/engine/redis-keys.js';
import { TestRedis, redisAvailable } from '../../../test/support/redis.js';

const phone = { clientId: 'ann', connectionId: 'phone', data: 'online' };
const laptop = { clientId: 'ann', connectionId: 'laptop', data: 'away' };

describe('presence changes on the Redis pub/sub', () => {
  it('cross as they were reported', () => {
    const change: PresenceChange = { pseq: 7, timestamp: 1000, hold: 'leave', holder: laptop, shown: { before: laptop, after: phone } };
    expect(decodePresenceChange(encodePresenceChange(change).slice(1))).toEqual(change);
  });

  it('carry the view by client id too, for nodes of earlier versions that read it off the wire', () => {
    const change: PresenceChange = { pseq: 7, timestamp: 1000, hold: 'leave', holder: laptop, shown: { before: laptop, after: phone } };
    expect(JSON.parse(encodePresenceChange(change).slice(1))).toMatchObject({ action: 'update', member: phone, hold: 'leave', holder: laptop });
  });

  // What a node of an earlier version sent: the view by client id, with the hold or (the oldest) without.
  const legacy = [
    { action: 'enter', member: phone, hold: 'enter', holder: phone },
    { action: 'update', member: phone, hold: 'leave', holder: laptop },
    { action: 'update', member: { ...phone, encoding: 'json' }, hold: 'update', holder: { ...phone, encoding: 'json' } },
    { action: 'update', member: { ...phone, encoding: '' }, hold: 'update', holder: { ...phone, encoding: '' } },
    { action: null, member: laptop, hold: 'enter', holder: laptop },
    { action: 'leave', member: phone, hold: 'leave', holder: phone },
    { action: 'leave', member: phone, hold: null, holder: phone },
  ];
  it.each(legacy)('from an earlier version, are seen as that node saw them: %o', (wire) => {
    const views = presenceViews(decodePresenceChange(JSON.stringify({ pseq: 3, timestamp: 1000, ...wire })));
    expect({ action: views.action, hold: views.hold, holder: views.holder, timestamp: views.timestamp, pseq: views.pseq }).toEqual({ action: wire.action, hold: wire.hold, holder: wire.holder, timestamp: 1000, pseq: 3 });
    if (wire.action) expect(views.member).toEqual(wire.member);
  });

  it('from the oldest versions, without a hold: the change by client id is the connection\'s too', () => {
    const views = presenceViews(decodePresenceChange(JSON.stringify({ pseq: 3, timestamp: 1000, action: 'update', member: phone })));
    expect(views).toEqual({ pseq: 3, timestamp: 1000, action: 'update', member: phone, hold: 'update', holder: phone });
  });
});

describe('presence holds stored by nodes of earlier versions', () => {
  const withRedis = redisAvailable();
  (withRedis ? it : it.skip)('a raw encoding label (not URI-encoded, a stray %) is read as written, not thrown on', async () => {
    const redis = await TestRedis.start();
    const engine = new RedisEngine({ url: redis.url, prefix: 'legacy' });
    const client = new Redis(redis.url);
    try {
      await engine.start({ message() {}, presence() {} });
      await engine.presenceEnter('app/c', { clientId: 'ann', connectionId: 'c1', data: 'x', encoding: 'utf-8' });
      // Rewrite the stored value as a node of an earlier version would have written it: the label raw.
      const key = new RedisKeys('legacy').channel('app/c').presence;
      const [field, value] = (await client.hgetall(key).then(Object.entries))[0];
      await client.hset(key, field, value.replace('\nutf-8\n', '\nutf-8;q=50%\n'));
      expect((await engine.presenceSync('app/c')).members).toEqual([{ clientId: 'ann', connectionId: 'c1', data: 'x', encoding: 'utf-8;q=50%' }]);
    } finally {
      client.disconnect();
      await engine.close();
      await redis.stop();
    }
  });
});
