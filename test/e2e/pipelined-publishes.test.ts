import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { ServerFrame } from '@hubbub/protocol';
import { cleanup, devtoken, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';

// docs/protocol.md: a client may send requests without waiting for their replies; replies come in the
// order of the requests, and a channel's messages from one connection take serials in the order they
// were sent. A connection's publishes to a Redis deployment share its round trips to Redis: a client
// that sends many at once is not held to one publish per round trip.

const N = 60;
const publishes = (channel: string, from = 1) => Array.from({ length: N }, (_, i) => ({ t: 'pub', id: from + i, channel, name: 'n', data: i, messageId: `m-${channel}-${i}` }));

/** Every frame that answers one of `ids`, in the order they arrived. */
async function replies(raw: RawClient, ids: number[]): Promise<ServerFrame[]> {
  const wanted = new Set(ids);
  const last = ids.at(-1)!;
  await raw.reply(last);
  // Replies come in request order: once the last is here, so are all the others.
  return raw.frames.filter((f) => 'id' in f && wanted.has(f.id as number));
}

function behaves(start: () => Promise<RunningServer>) {
  let server: RunningServer;
  let token: string;
  beforeAll(async () => {
    server = await start();
    token = await devtoken('foony', 'writer');
  });
  afterAll(() => cleanup(server));
  afterEach(() => closeClients());

  it('answers publishes sent without waiting in the order they were sent, with serials in that order, and a later request after them', async () => {
    const raw = await RawClient.connect(server.url);
    try {
      await raw.auth(token);
      const channel = `pipe-${Math.random().toString(36).slice(2)}`;
      // Everything in one burst: the history request must see every publish before it.
      for (const f of publishes(channel)) raw.send(f);
      raw.send({ t: 'hist', id: N + 1, channel, limit: 100, direction: 'forwards' });
      const got = await replies(raw, Array.from({ length: N + 1 }, (_, i) => i + 1));
      expect(got.map((f) => (f as { id: number }).id)).toEqual(Array.from({ length: N + 1 }, (_, i) => i + 1));
      expect(got.slice(0, N).map((f) => [f.t, (f as { seq?: number }).seq])).toEqual(Array.from({ length: N }, (_, i) => ['ack', i + 1]));
      const history = got[N] as { t: string; messages: Array<{ data: number; seq: number }> };
      expect(history.t).toBe('histRes');
      expect(history.messages.map((m) => [m.seq, m.data])).toEqual(Array.from({ length: N }, (_, i) => [i + 1, i]));
    } finally {
      raw.close();
    }
  });

  it('answers a refused publish among accepted ones in its place, and the rest go through', async () => {
    const readOnly = await devtoken('foony', 'reader', ['--capability', JSON.stringify({ 'open:*': ['publish'] })]);
    const raw = await RawClient.connect(server.url);
    try {
      await raw.auth(readOnly);
      const tag = Math.random().toString(36).slice(2);
      raw.send({ t: 'pub', id: 1, channel: `open:${tag}`, name: 'n', data: 1, messageId: 'a' });
      raw.send({ t: 'pub', id: 2, channel: `closed:${tag}`, name: 'n', data: 2, messageId: 'b' });
      raw.send({ t: 'pub', id: 3, channel: `open:${tag}`, name: 'n', data: 3, messageId: 'c' });
      const got = await replies(raw, [1, 2, 3]);
      expect(got.map((f) => [f.t, (f as { id: number }).id])).toEqual([['ack', 1], ['err', 2], ['ack', 3]]);
      expect((got[1] as { code: number }).code).toBe(40301);
      expect(got.filter((f) => f.t === 'ack').map((f) => (f as { seq: number }).seq)).toEqual([1, 2]);
    } finally {
      raw.close();
    }
  });

  it('a subscriber that unsubscribes right behind its own publishes, in the same burst, still gets every one of them', async () => {
    const raw = await RawClient.connect(server.url);
    try {
      await raw.auth(token);
      const channel = `echo-${Math.random().toString(36).slice(2)}`;
      raw.send({ t: 'sub', id: 1, channel });
      await raw.reply(1);
      const burst = publishes(channel, 2).slice(0, 20);
      for (const f of burst) raw.send(f);
      raw.send({ t: 'unsub', id: 100, channel });
      await raw.reply(100);
      expect(raw.frames.filter((f) => f.t === 'msg').map((f) => (f as { seq: number }).seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      raw.close();
    }
  });

  it('an ephemeral publish is answered once its own subscriber has it: sub, publish, unsub, publish in one burst delivers every first one, in order', async () => {
    const raw = await RawClient.connect(server.url);
    try {
      await raw.auth(token);
      const channel = `typing-${Math.random().toString(36).slice(2)}`;
      const rounds = 20;
      let id = 1;
      for (let r = 0; r < rounds; r++) {
        raw.send({ t: 'sub', id: id++, channel });
        raw.send({ t: 'pub', id: id++, channel, name: 'typing', data: r, messageId: `in-${r}`, ephemeral: true });
        raw.send({ t: 'unsub', id: id++, channel });
        raw.send({ t: 'pub', id: id++, channel, name: 'typing', data: r, messageId: `out-${r}`, ephemeral: true });
      }
      await raw.reply(id - 1);
      // Sent after everything above and answered after it: nothing more can come for the channel.
      raw.send({ t: 'ping', id });
      await raw.reply(id);
      const got = raw.frames.filter((f) => f.t === 'msg').map((f) => (f as { messageId: string }).messageId);
      expect(got.filter((m) => m.startsWith('in-'))).toEqual(Array.from({ length: rounds }, (_, r) => `in-${r}`));
      // One published while unsubscribed has no serial to be told apart by: on Redis it may still reach the
      // next round's subscription (docs/scale-out.md), never the round it was published in, and never twice.
      for (const [i, m] of got.entries()) {
        if (!m.startsWith('out-')) continue;
        const r = Number(m.slice(4));
        expect(got.slice(0, i), `${m} comes after the next round's subscribe`).toContain(`in-${r}`);
        expect(got.indexOf(m), `${m} once`).toBe(i);
        expect(r, `${m} before a later subscribe`).toBeLessThan(rounds - 1);
      }
    } finally {
      raw.close();
    }
  });

  it("the SDK's publishes made at once resolve in order, each with its serial", async () => {
    const channel = client(server.url, { token }).channels.get(`sdk-${Math.random().toString(36).slice(2)}`);
    const results = await Promise.all(Array.from({ length: N }, (_, i) => channel.publish('n', i)));
    expect(results.map((r) => r.serial)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  });
}

describe('publishes sent without waiting, on the embedded engine', () => {
  behaves(() => startServer());
});

describe.runIf(redisAvailable())('publishes sent without waiting, on Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.stop());

  behaves(() => startServer(['--redis', redis.url]));

  /** Script calls Redis ran for a burst of N publishes from one connection of a server started with `args`. */
  async function scriptCallsFor(channel: string, args: string[] = []): Promise<number> {
    const server = await startServer(['--redis', redis.url, ...args]);
    const admin = new Redis(redis.url);
    const raw = await RawClient.connect(server.url);
    try {
      await raw.auth(await devtoken('foony', 'writer'));
      const scriptCalls = async () => [...(await admin.info('commandstats')).matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      const before = await scriptCalls();
      for (const f of publishes(channel)) raw.send(f);
      const got = await replies(raw, Array.from({ length: N }, (_, i) => i + 1));
      expect(got.map((f) => [f.t, (f as { seq?: number }).seq])).toEqual(Array.from({ length: N }, (_, i) => ['ack', i + 1]));
      return (await scriptCalls()) - before;
    } finally {
      raw.close();
      admin.disconnect();
      await cleanup(server);
    }
  }

  it("share the connection's round trips to Redis instead of taking one each", async () => {
    // One at a time they took N script calls; shared, a few (the first alone, the rest together).
    expect(await scriptCallsFor('shared-trips')).toBeLessThanOrEqual(5);
  });

  it('a connection has at most --max-publishes-in-flight publishes at the engine at once (HUBBUB_MAX_PUBLISHES_IN_FLIGHT)', async () => {
    // At most 4 of its publishes in each call: at least N / 4 calls, every publish still answered in order.
    expect(await scriptCallsFor('four-at-once', ['--max-publishes-in-flight', '4'])).toBeGreaterThanOrEqual(N / 4);
    const help = await runCli(['serve', '--help']);
    expect(help.stdout).toMatch(/--max-publishes-in-flight[^\n]*HUBBUB_MAX_PUBLISHES_IN_FLIGHT|HUBBUB_MAX_PUBLISHES_IN_FLIGHT[^\n]*--max-publishes-in-flight/);
  });
});
