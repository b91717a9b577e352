/**
 * @foony/realtime reconnecting to a node that cannot reach Redis for now: its restoring `sub` is
 * refused with 50001 and the published SDK never asks again (it leaves the channel `attaching` until
 * its next reconnect). Found by the chaos run (`npm run chaos -- --seconds 200 --seed 4`: a node's
 * clients came back to it while Redis restarted; one binary subscriber lost 256 messages, told of
 * no discontinuity). The binary dialect's server side therefore closes such a connection with a
 * try-again-later code, so the SDK reconnects and resumes from its cursor once the engine is back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestRedis, redisAvailable } from '../../support/redis.js';
import { Clients, TcpProxy, V16, attachCollect, eventually, recordReceived, startFoonyServer, within, type FoonyServer } from './support.js';

const clients = new Clients();
afterEach(() => clients.closeAll());

describe.runIf(redisAvailable())('@foony/realtime 0.16: a restore refused while the engine is away', () => {
  let redis: TestRedis;
  let s: FoonyServer;

  beforeAll(async () => {
    redis = await TestRedis.start();
    s = await startFoonyServer(['--redis', redis.url]);
  });
  afterAll(async () => {
    await s?.cleanup();
    await redis?.stop();
  });

  it('the subscriber resumes once Redis is back: nothing published meanwhile is lost', async () => {
    const ch = 'engine-away';
    const proxy = clients.track(await TcpProxy.start(s.port));
    const sub = clients.realtime(V16, proxy.ws, { key: s.key, clientId: 'sub' });
    const pub = clients.realtime(V16, s.ws, { key: s.key, clientId: 'pub' });
    const got = await attachCollect(sub.channels.get(ch));
    const received = recordReceived(sub);
    await pub.channels.get(ch).publish('n', 1);
    await eventually(() => got.length === 1, 'the first message');

    await redis.kill();
    proxy.cut();
    // The SDK reconnects at once (through the proxy) while the node still cannot reach Redis.
    await eventually(() => received.some((f) => f.t === 'err' && f.code === 50001), 'its restoring sub refused with 50001', 15_000);

    await redis.restart();
    const rest = clients.rest(V16, s.http, { key: s.key, clientId: 'rest' });
    await eventually(async () => {
      try {
        await within(rest.channels.get(ch).publish('n', 2), 3000, 'REST publish');
        return true;
      } catch {
        return false;
      }
    }, 'publishing again after the restart', 20_000);
    await eventually(() => got.some((m) => m.data === 2), 'the message published after the outage reaches the subscriber', 20_000);
    expect(got.map((m) => m.data)).toEqual([1, 2]);
  }, 60_000);
});
