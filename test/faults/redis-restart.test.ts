/**
 * Redis killed (SIGKILL) and restarted under traffic, on one node and on two. Redis runs with an
 * append-only file fsynced on every write (test/support/redis.ts), as docs/scale-out.md asks for when
 * acknowledged messages must survive a Redis restart. What is checked: nodes stay up and keep their
 * clients connected; publishes during the outage fail at once with 50001 (over HTTP: 503), never hang
 * and are never acked; every acknowledged message reaches every subscriber exactly once, in serial
 * order, and is in history afterwards.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Message, Realtime } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { until } from '../support/wait.js';

describe.runIf(redisAvailable())('Redis killed and restarted', () => {
  let redis: TestRedis;
  const servers: RunningServer[] = [];
  const loads: Array<{ stop(): Promise<void> }> = [];

  beforeEach(async () => {
    redis = await TestRedis.start();
  });
  afterEach(async () => {
    for (const load of loads.splice(0)) await load.stop();
    closeClients();
    await Promise.all(servers.splice(0).map(cleanup));
    await redis.stop();
  });

  async function node(extra: string[] = []): Promise<RunningServer> {
    const s = await startServer(['--redis', redis.url, '--history-limit', '10000', '--publish-rate', '1000', ...extra]);
    servers.push(s);
    return s;
  }

  /** A subscriber that records what it gets and every connection state it goes through. */
  async function subscriber(s: RunningServer, clientId: string, channel: string) {
    const rt = client(s.url, { token: await devtoken('foony', clientId) });
    const got: Message[] = [];
    const states: string[] = [];
    rt.channels.get(channel).on((m) => got.push(m));
    await rt.channels.get(channel).attach();
    rt.connection.on((c) => states.push(c.current));
    return { rt, got, states };
  }

  /**
   * Publish n = 0, 1, 2 … every few ms until stopped, recording which were acked and the codes of
   * those that failed.
   */
  function traffic(pub: Realtime, channel: string) {
    const acked: number[] = [];
    const failed: Array<{ n: number; code: number; ms: number }> = [];
    let stop = false;
    const done = (async () => {
      for (let n = 0; !stop; n++) {
        const started = performance.now();
        await pub.channels.get(channel).publish('n', n).then(
          () => acked.push(n),
          (err: { code: number }) => failed.push({ n, code: err.code, ms: performance.now() - started }),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const load = {
      acked,
      failed,
      async stop() {
        stop = true;
        await done;
      },
    };
    loads.push(load);
    return load;
  }

  /** Each acked message exactly once, none twice, all in serial order. */
  function expectExactlyOnce(got: Message[], acked: number[], who: string): void {
    const counts = new Map<unknown, number>();
    for (const m of got) counts.set(m.data, (counts.get(m.data) ?? 0) + 1);
    const missing = acked.filter((n) => counts.get(n) !== 1);
    expect(missing, `${who}: acked messages not delivered exactly once`).toEqual([]);
    expect([...counts.values()].every((c) => c === 1), `${who}: a message delivered twice`).toBe(true);
    const serials = got.map((m) => m.serial);
    expect(serials, `${who}: serials in order`).toEqual([...serials].sort((x, y) => (x ?? 0) - (y ?? 0)));
  }

  it('one node: publishes fail with 50001 (HTTP 503) while Redis is down; every acked message is delivered once and kept in history', async () => {
    const a = await node();
    const sub = await subscriber(a, 'sub', 'outage');
    const pub = client(a.url, { token: await devtoken('foony', 'pub') });
    const load = traffic(pub, 'outage');
    await until(() => load.acked.length >= 30, 'traffic flowing');

    await redis.kill();
    await until(() => load.failed.length >= 5, 'publishes failing during the outage');
    expect(new Set(load.failed.map((f) => f.code))).toEqual(new Set([50001]));
    // REST gets the same code, as a retryable 503, and the process is still there to answer.
    const rest = await fetch(`${a.http}/channels/outage/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await devtoken('foony', 'rest')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'n', data: 'rest-during-outage' }),
    });
    expect(rest.status).toBe(503);
    expect(((await rest.json()) as { error: { code: number } }).error.code).toBe(50001);
    const ready = await fetch(`${a.http}/readyz`);
    expect(ready.status).toBe(503);

    await redis.restart();
    const before = load.acked.length;
    await until(() => load.acked.length >= before + 30, 'traffic again after the restart', 15_000);
    await load.stop();
    await until(() => load.acked.every((n) => sub.got.some((m) => m.data === n)), 'every acked message at the subscriber');
    expect(a.proc.exitCode).toBeNull();
    expect(sub.states).not.toContain('disconnected');
    expect(pub.connection.state).toBe('connected');
    expectExactlyOnce(sub.got, load.acked, 'subscriber');
    // Nothing acked is lost from history either (AOF with fsync on every write).
    const history = (await pub.channels.get('outage').history({ limit: 1000 })).map((m) => m.data);
    expect(load.acked.filter((n) => !history.includes(n))).toEqual([]);
    expect((await fetch(`${a.http}/readyz`)).status).toBe(200);
  });

  it('Redis frozen (SIGSTOP): publishes and /readyz fail with 50001 (HTTP 503) after --redis-command-timeout instead of hanging; after SIGCONT every acked message is delivered once', async () => {
    const a = await node(['--redis-command-timeout', '1s']);
    const sub = await subscriber(a, 'sub', 'frozen');
    const pub = client(a.url, { token: await devtoken('foony', 'pub') });
    const load = traffic(pub, 'frozen');
    await until(() => load.acked.length >= 30, 'traffic flowing');

    redis.proc!.kill('SIGSTOP');
    try {
      // Each one within the timeout, not only the first: later ones do not queue behind it.
      await until(() => load.failed.length >= 4, 'publishes failing while Redis is frozen', 10_000);
      expect(new Set(load.failed.map((f) => f.code))).toEqual(new Set([50001]));
      expect(Math.max(...load.failed.map((f) => f.ms)), 'slowest failed publish (ms)').toBeLessThan(1_800);
      // A newcomer connects, and its subscribe is answered (here refused: the channel's position cannot be read), without waiting for Redis.
      const attachStarted = performance.now();
      const newcomer = await RawClient.connect(a.url);
      try {
        await newcomer.auth(await devtoken('foony', 'newcomer'));
        newcomer.send({ t: 'sub', id: 1, channel: `fresh-${Date.now()}` });
        expect(await newcomer.reply(1)).toMatchObject({ t: 'err', id: 1, code: 50001 });
      } finally {
        newcomer.close();
      }
      // Each step that waits on Redis (the connection's own channel, the channel's subscription, its position) at most one timeout.
      expect(performance.now() - attachStarted, 'connect and subscribe while frozen (ms)').toBeLessThan(6_000);
      const started = performance.now();
      const rest = await fetch(`${a.http}/channels/frozen/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await devtoken('foony', 'rest')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'n', data: 'rest-while-frozen' }),
      });
      expect(rest.status).toBe(503);
      expect(((await rest.json()) as { error: { code: number; message: string } }).error).toMatchObject({ code: 50001, message: expect.stringContaining('did not answer') });
      expect((await fetch(`${a.http}/readyz`)).status).toBe(503);
      expect(performance.now() - started, 'answered within the timeouts, not hung').toBeLessThan(6_000);
    } finally {
      redis.proc!.kill('SIGCONT');
    }
    const before = load.acked.length;
    await until(() => load.acked.length >= before + 30, 'traffic again once Redis goes on', 15_000);
    await load.stop();
    await until(() => load.acked.every((n) => sub.got.some((m) => m.data === n)), 'every acked message at the subscriber');
    expect(sub.states).not.toContain('disconnected');
    expectExactlyOnce(sub.got, load.acked, 'subscriber');
    expect((await fetch(`${a.http}/readyz`)).status).toBe(200);
  });

  it('two nodes: subscribers on both get every acked message exactly once; presence is still there after', async () => {
    const a = await node();
    const b = await node();
    const onA = await subscriber(a, 'on-a', 'pair');
    const onB = await subscriber(b, 'on-b', 'pair');
    await onB.rt.channels.get('pair').presence.enter({ node: 'b' });
    const pub = client(a.url, { token: await devtoken('foony', 'pub') });
    const load = traffic(pub, 'pair');
    await until(() => load.acked.length >= 30 && onB.got.length >= 30, 'traffic flowing to both nodes');

    await redis.kill();
    await until(() => load.failed.length >= 5, 'publishes failing during the outage');
    expect(new Set(load.failed.map((f) => f.code))).toEqual(new Set([50001]));
    await redis.restart();
    const before = load.acked.length;
    await until(() => load.acked.length >= before + 30, 'traffic again after the restart', 15_000);
    await load.stop();

    for (const [who, sub] of [['node A', onA], ['node B', onB]] as const) {
      await until(() => load.acked.every((n) => sub.got.some((m) => m.data === n)), `every acked message at ${who}`);
      expect(sub.states, who).not.toContain('disconnected');
      expectExactlyOnce(sub.got, load.acked, who);
    }
    const watcher = client(a.url, { token: await devtoken('foony', 'watcher') });
    await until(async () => (await watcher.channels.get('pair').presence.get()).some((m) => m.clientId === 'on-b'), 'the member entered on B, seen from A');
  });
});
