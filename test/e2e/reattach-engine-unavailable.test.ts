/**
 * A subscriber that reconnects to a node while that node cannot reach Redis gets its resuming `sub`
 * refused with 50001 (engine unavailable: retryable). The SDK must try the attach again once the engine
 * is back, resuming from its cursor, not give the channel up: found by the chaos run (test/chaos,
 * `npm run chaos -- --seconds 90 --seed 2`: node 1 paused while Redis restarted; its subscribers came
 * back before its Redis link did, and every channel of theirs stayed `failed` for the rest of the run,
 * with no discontinuity told, through later reconnects too).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelState } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { until } from '../support/wait.js';

describe.runIf(redisAvailable())('a (re)attach refused because the engine is unavailable', () => {
  let redis: TestRedis;
  let server: RunningServer;
  let door: FaultProxy;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    redis = await TestRedis.start();
    server = await startServer(['--redis', redis.url]);
    door = await FaultProxy.start(server.port);
    [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await door?.stop();
    if (server) await cleanup(server);
    await redis?.stop();
  });

  it('is retried once the engine is back: the channel resumes exactly, nothing published meanwhile is lost', async () => {
    const pub = client(server.url, { token: alice });
    const sub = client(`ws://127.0.0.1:${door.port}`, { token: bob });
    const channel = sub.channels.get('engine-away');
    const got: unknown[] = [];
    const attaches: boolean[] = [];
    channel.on((m) => got.push(m.data));
    channel.onAttached((e) => attaches.push(e.discontinuity));
    await channel.attach();
    await pub.channels.get('engine-away').publish('n', 1);
    await until(() => got.length === 1, 'the first message');

    // Redis goes; the subscriber's socket drops and it reconnects while the node still cannot reach Redis.
    await redis.kill();
    const states: ChannelState[] = [];
    const reconnected = new Promise<void>((resolve) => sub.connection.on('connected', () => resolve()));
    door.cut();
    await reconnected;
    // Its resuming `sub` is answered 50001; give the SDK time to act on that answer.
    await until(() => {
      states.push(channel.state);
      return sub.connection.state === 'connected' && channel.state !== 'attached';
    }, 'reconnected, not attached');

    await redis.restart();
    await until(async () => {
      try {
        await pub.channels.get('engine-away').publish('n', 2);
        return true;
      } catch {
        return false;
      }
    }, 'publishing again after the restart', 15_000);
    await until(() => got.includes(2), 'the message published after the outage reaches the subscriber', 15_000);
    expect(channel.state).toBe('attached');
    expect(got).toEqual([1, 2]);
    // The resume was exact: Redis kept the history, so no discontinuity.
    expect(attaches).toEqual([false, false]);
    expect(states).not.toContain('failed');
  }, 40_000);

  it('a presence watch refused meanwhile is asked again: members who enter after the outage are seen', async () => {
    const watcher = client(`ws://127.0.0.1:${door.port}`, { token: bob });
    const presence = watcher.channels.get('engine-away-presence').presence;
    const seen: string[] = [];
    presence.on('enter', (m) => seen.push(m.clientId));
    await presence.get();

    await redis.kill();
    const reconnected = new Promise<void>((resolve) => watcher.connection.on('connected', () => resolve()));
    door.cut();
    await reconnected;
    await redis.restart();
    const member = client(server.url, { token: alice });
    await until(async () => {
      try {
        await member.channels.get('engine-away-presence').presence.enter({ here: true });
        return true;
      } catch {
        return false;
      }
    }, 'entering after the restart', 15_000);
    await until(() => seen.includes('alice'), 'the watcher sees the member who entered after the outage', 15_000);
  }, 40_000);
});
