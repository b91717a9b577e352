/**
 * `GET /sse` of `hubbub serve`, read by a Node client on a streaming fetch that parses the stream as
 * an EventSource does (test/support/sse-client.ts): named events carrying the JSON message, an `id:`
 * cursor that resumes every channel of the stream at once, on any node of a Redis deployment.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { SseClient } from '../support/sse-client.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { sign } from '../hostile/support.js';

interface SseMessage {
  channel: string;
  name: string;
  data: unknown;
  id: string;
  seq?: number;
  clientId?: string;
  timestamp: number;
  ephemeral?: boolean;
}

const streams: SseClient[] = [];
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
  closeClients();
});

async function open(server: RunningServer, query: string, options: Parameters<typeof SseClient.open>[1] = {}): Promise<SseClient> {
  const s = await SseClient.open(`${server.http}/sse?${query}`, options);
  streams.push(s);
  return s;
}

function channels(...names: string[]): string {
  return names.map((n) => `channel=${encodeURIComponent(n)}`).join('&');
}

async function publish(server: RunningServer, token: string, channel: string, body: unknown): Promise<{ seq?: number; messageId: string }> {
  const res = await fetch(`${server.http}/channels/${encodeURIComponent(channel)}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { seq?: number; messageId: string };
}

/** Messages (not control events) as `channel:data` strings, in arrival order. */
function arrived(s: SseClient): string[] {
  return s.events.filter((e) => e.event !== 'discontinuity').map((e) => {
    const m = JSON.parse(e.data) as SseMessage;
    return `${m.channel}:${String(m.data)}`;
  });
}

describe('GET /sse on one node', () => {
  let server: RunningServer;
  let token: string;

  beforeAll(async () => {
    server = await startServer(['--heartbeat', '300ms', '--history-limit', '20']);
    token = await sign('sse', 'reader');
  });
  afterAll(() => cleanup(server));

  it('lets a page of another origin reconnect with Last-Event-ID: a preflight for /sse allows the header', async () => {
    const res = await fetch(`${server.http}/sse?channel=news`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'last-event-id' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-headers')?.split(', ')).toContain('last-event-id');
  });

  it('streams each message as an event named after it, its data the JSON message, its id a cursor', async () => {
    const s = await open(server, `${channels('news', 'chat:lobby')}&token=${token}`);
    expect(s.status).toBe(200);
    expect(s.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.response.headers.get('cache-control')).toContain('no-cache');
    const sent = await publish(server, token, 'news', { name: 'headline', data: { title: 'hello' } });
    await publish(server, token, 'chat:lobby', { name: 'said', data: 'hi' });
    await until(() => s.events.length >= 2, 'two events');
    expect(s.events.map((e) => e.event)).toEqual(['headline', 'said']);
    const [first, second] = s.json<SseMessage>();
    expect(first).toEqual({ channel: 'news', name: 'headline', data: { title: 'hello' }, id: sent.messageId, seq: sent.seq, clientId: 'reader', timestamp: expect.any(Number) });
    expect(second).toMatchObject({ channel: 'chat:lobby', name: 'said', data: 'hi', seq: 1 });
    expect(s.events.every((e) => e.hadId && e.lastEventId.length > 0)).toBe(true);
    expect(s.events[0].lastEventId).not.toBe(s.events[1].lastEventId);
    expect(s.retry, 'a retry interval for the reconnect').toBeGreaterThan(0);
  });

  it('takes the token from Authorization: Bearer as well', async () => {
    const s = await open(server, channels('bearer'), { headers: { authorization: `Bearer ${token}` } });
    expect(s.status).toBe(200);
    await publish(server, token, 'bearer', { name: 'n', data: 1 });
    await until(() => s.events.length === 1, 'the event');
  });

  it('a reconnect with Last-Event-ID gets exactly what it missed on every channel, in order, then live ones', async () => {
    const first = await open(server, `${channels('r-a', 'r-b')}&token=${token}`);
    for (let i = 1; i <= 3; i++) {
      await publish(server, token, 'r-a', { name: 'n', data: i });
      await publish(server, token, 'r-b', { name: 'n', data: i });
    }
    await until(() => first.events.length === 6, 'six events');
    const cursor = first.lastEventId;
    first.close();
    for (let i = 4; i <= 6; i++) {
      await publish(server, token, 'r-a', { name: 'n', data: i });
      await publish(server, token, 'r-b', { name: 'n', data: i * 10 });
    }
    const again = await open(server, `${channels('r-a', 'r-b')}&token=${token}`, { lastEventId: cursor });
    await publish(server, token, 'r-a', { name: 'n', data: 7 });
    await until(() => arrived(again).includes('r-a:7'), 'the live one');
    const got = arrived(again);
    expect(got.filter((m) => m.startsWith('r-a:'))).toEqual(['r-a:4', 'r-a:5', 'r-a:6', 'r-a:7']);
    expect(got.filter((m) => m.startsWith('r-b:'))).toEqual(['r-b:40', 'r-b:50', 'r-b:60']);
    expect(again.events.some((e) => e.event === 'discontinuity')).toBe(false);
  });

  it('a stream that has had no message yet still resumes: its first block is an id alone', async () => {
    const first = await open(server, `${channels('quiet-a', 'quiet-b')}&token=${token}`);
    await until(() => first.lastEventId !== '', 'the first id');
    expect(first.events).toEqual([]);
    first.close();
    await publish(server, token, 'quiet-b', { name: 'n', data: 'while away' });
    const again = await open(server, `${channels('quiet-a', 'quiet-b')}&token=${token}`, { lastEventId: first.lastEventId });
    await until(() => again.events.length === 1, 'the missed message');
    expect(arrived(again)).toEqual(['quiet-b:while away']);
  });

  it('also resumes from ?lastEventId= (a new EventSource, e.g. with a fresh token, cannot set the header)', async () => {
    const first = await open(server, `${channels('qp')}&token=${token}`);
    await publish(server, token, 'qp', { name: 'n', data: 1 });
    await until(() => first.events.length === 1, 'one');
    first.close();
    await publish(server, token, 'qp', { name: 'n', data: 2 });
    const fresh = await sign('sse', 'reader');
    const again = await open(server, `${channels('qp')}&token=${fresh}&lastEventId=${encodeURIComponent(first.lastEventId)}`);
    await until(() => again.events.length === 1, 'the missed one');
    expect(arrived(again)).toEqual(['qp:2']);
  });

  it('delivers ephemeral messages live with no id, and batch members as events of their own', async () => {
    const s = await open(server, `${channels('eph')}&token=${token}`);
    await until(() => s.lastEventId !== '', 'the first id');
    const idBefore = s.lastEventId;
    await publish(server, token, 'eph', { name: 'typing', data: 'x', ephemeral: true });
    await until(() => s.events.length === 1, 'the ephemeral event');
    expect(s.events[0]).toMatchObject({ event: 'typing', hadId: false, lastEventId: idBefore });
    expect(JSON.parse(s.events[0].data)).not.toHaveProperty('seq');
    await publish(server, token, 'eph', [{ name: 'one', data: 1 }, { name: 'two', data: 2 }]);
    await until(() => s.events.length === 3, 'the batch');
    expect(s.events.slice(1).map((e) => [e.event, e.hadId])).toEqual([['one', false], ['two', true]]);
    const [one, two] = s.json<SseMessage>().slice(1);
    expect(one.seq).toBe(two.seq);
    expect(one.id).toBe(two.id);
  });

  it('a cursor outside the retained window says so with a discontinuity event, then sends what is retained', async () => {
    const first = await open(server, `${channels('window', 'window-other')}&token=${token}`);
    await publish(server, token, 'window', { name: 'n', data: 0 });
    await until(() => first.events.length === 1, 'one');
    first.close();
    // --history-limit 20: 25 more leave the cursor (serial 1) behind the window.
    for (let i = 1; i <= 25; i++) await publish(server, token, 'window', { name: 'n', data: i });
    const again = await open(server, `${channels('window', 'window-other')}&token=${token}`, { lastEventId: first.lastEventId });
    await until(() => again.events.length >= 21, 'the discontinuity and what is retained');
    expect(again.events[0].event).toBe('discontinuity');
    expect(JSON.parse(again.events[0].data)).toEqual({ channel: 'window' });
    expect(arrived(again)).toEqual(Array.from({ length: 20 }, (_, i) => `window:${i + 6}`));
    // Once told, the cursor is in the window again: a resume from it says nothing more.
    again.close();
    const third = await open(server, `${channels('window', 'window-other')}&token=${token}`, { lastEventId: again.lastEventId });
    await publish(server, token, 'window', { name: 'n', data: 'live' });
    await until(() => third.events.length === 1, 'the live one');
    expect(arrived(third)).toEqual(['window:live']);
  });

  it('a bad or unknown Last-Event-ID is a fresh stream: 200, no replay, live messages', async () => {
    await publish(server, token, 'fresh', { name: 'n', data: 'old' });
    for (const bad of ['garbage', '12', 'v1,AAAAAAAA:1:x', 'v1,' + 'A'.repeat(4000), '-1']) {
      const s = await open(server, `${channels('fresh')}&token=${token}`, { lastEventId: bad });
      expect(s.status, bad).toBe(200);
      await publish(server, token, 'fresh', { name: 'n', data: bad.slice(0, 10) });
      await until(() => s.events.length >= 1, 'the live one');
      expect(arrived(s), bad).toEqual([`fresh:${bad.slice(0, 10)}`]);
      s.close();
    }
  });

  it('keeps a quiet stream alive with comment heartbeats', async () => {
    const s = await open(server, `${channels('beat')}&token=${token}`);
    await until(() => s.comments.filter((c) => c === 'heartbeat').length >= 2, 'two heartbeats', 3000);
  });

  it('ends the stream when its token expires', async () => {
    const short = await sign('sse', 'short-lived', {}, 2);
    const s = await open(server, `${channels('expiring')}&token=${short}`);
    expect(s.status).toBe(200);
    await s.ended;
    expect(s.serverEnded).toBe(true);
    const again = await open(server, `${channels('expiring')}&token=${short}`);
    expect(again.status).toBe(401);
    expect(await again.response.json()).toMatchObject({ error: { code: 40102 } });
  });

  it('a message published over a WebSocket reaches the stream too', async () => {
    const s = await open(server, `${channels('mixed')}&token=${token}`);
    await until(() => s.lastEventId !== '', 'the first id');
    const rt = client(server.url, { token: await sign('sse', 'ws-writer') });
    await rt.channels.get('mixed').publish('from-ws', { ok: true });
    await until(() => s.events.length === 1, 'the event');
    expect(s.json<SseMessage>()[0]).toMatchObject({ channel: 'mixed', name: 'from-ws', data: { ok: true }, clientId: 'ws-writer' });
  });
});

describe('GET /sse after a restart of a node on the memory engine', () => {
  it('the cursor belongs to streams that are gone: a discontinuity for each channel, then what is new', async () => {
    let server = await startServer();
    try {
      const token = await sign('sse', 'restart');
      const query = `${channels('m-a', 'm-b')}&token=${token}`;
      const first = await open(server, query);
      await publish(server, token, 'm-a', { name: 'n', data: 'before' });
      await until(() => first.events.length === 1, 'one');
      await server.stop('SIGTERM');
      await first.ended;
      server = await startServer([], { port: server.port, dataDir: server.dataDir });
      await publish(server, token, 'm-b', { name: 'n', data: 'after' });
      const again = await open(server, query, { lastEventId: first.lastEventId });
      await until(() => again.events.length === 3, 'two discontinuities and the new message');
      expect(again.json<{ channel: string }>('discontinuity').map((d) => d.channel).sort()).toEqual(['m-a', 'm-b']);
      expect(arrived(again)).toEqual(['m-b:after']);
    } finally {
      await cleanup(server);
    }
  });
});

describe('GET /sse with a long catch-up', () => {
  let server: RunningServer;
  afterAll(() => cleanup(server));

  it('sends a catch-up far past one replay piece (256 KiB) whole and in order', async () => {
    server = await startServer(['--history-limit', '500']);
    const token = await sign('sse', 'long');
    const first = await open(server, `${channels('long')}&token=${token}`);
    await until(() => first.lastEventId !== '', 'the first id');
    first.close();
    const chunk = 'y'.repeat(8 * 1024);
    for (let i = 0; i < 200; i++) await publish(server, token, 'long', { name: 'n', data: `${i}:${chunk}` });
    const again = await open(server, `${channels('long')}&token=${token}`, { lastEventId: first.lastEventId });
    await until(() => again.events.length === 200, 'all 200', 20_000);
    expect(again.json<SseMessage>().map((m) => Number(String(m.data).split(':')[0]))).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });
});

describe('GET /sse and the connection budget', () => {
  let server: RunningServer;
  afterAll(() => cleanup(server));

  it('an SSE stream takes a place of --max-connections: past it 503 (50300), free again once it closes', async () => {
    server = await startServer(['--max-connections', '1']);
    const token = await sign('sse', 'budget');
    const first = await open(server, `${channels('b')}&token=${token}`);
    expect(first.status).toBe(200);
    const second = await open(server, `${channels('b')}&token=${token}`);
    expect(second.status).toBe(503);
    expect(second.response.headers.get('retry-after')).toBeTruthy();
    expect(await second.response.json()).toMatchObject({ error: { code: 50300 } });
    first.close();
    await until(async () => {
      const s = await open(server, `${channels('b')}&token=${token}`);
      s.close();
      return s.status === 200;
    }, 'a place again');
  });
});

describe('GET /sse when the server shuts down', () => {
  it('ends every stream cleanly, so an EventSource reconnects', async () => {
    const server = await startServer();
    try {
      const s = await open(server, `${channels('bye')}&token=${await sign('sse', 'bye')}`);
      await until(() => s.lastEventId !== '', 'the first id');
      await server.stop('SIGTERM');
      await s.ended;
      expect(s.serverEnded).toBe(true);
    } finally {
      await cleanup(server);
    }
  });
});

describe.runIf(redisAvailable())('GET /sse on two nodes sharing Redis', () => {
  let redis: TestRedis;
  let a: RunningServer;
  let b: RunningServer;
  let token: string;

  beforeAll(async () => {
    redis = await TestRedis.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-sse-'));
    a = await startServer(['--redis', redis.url], { dataDir });
    b = await startServer(['--redis', redis.url], { dataDir });
    token = await sign('sse', 'two-nodes');
  });
  afterAll(async () => {
    await cleanup(a);
    await cleanup(b);
    await redis?.stop();
  });

  it('reads some events from node A, reconnects to node B with Last-Event-ID and gets exactly the missed ones, in order, on both channels', async () => {
    const query = `${channels('x', 'y')}&token=${token}`;
    const onA = await open(a, query);
    for (let i = 1; i <= 5; i++) {
      await publish(a, token, 'x', { name: 'n', data: i });
      await publish(b, token, 'y', { name: 'n', data: i });
    }
    await until(() => onA.events.length === 10, 'ten events on A');
    // Stop part-way: the cursor of the fourth event covers what came before it, on both channels.
    const cursor = onA.events[3].lastEventId;
    const seen = arrived(onA).slice(0, 4);
    const seenX = seen.filter((m) => m.startsWith('x:')).length;
    const seenY = seen.filter((m) => m.startsWith('y:')).length;
    onA.close();
    for (let i = 6; i <= 8; i++) {
      await publish(b, token, 'x', { name: 'n', data: i });
      await publish(a, token, 'y', { name: 'n', data: i });
    }
    const onB = await open(b, query, { lastEventId: cursor });
    await publish(a, token, 'y', { name: 'n', data: 'live' });
    await until(() => arrived(onB).includes('y:live'), 'the live one on B');
    const got = arrived(onB);
    const from = (seenCount: number, channel: string) => Array.from({ length: 8 - seenCount }, (_, i) => `${channel}:${seenCount + 1 + i}`);
    expect(got.filter((m) => m.startsWith('x:'))).toEqual(from(seenX, 'x'));
    expect(got.filter((m) => m.startsWith('y:'))).toEqual([...from(seenY, 'y'), 'y:live']);
    expect(onB.events.some((e) => e.event === 'discontinuity')).toBe(false);
    const seqs = onB.json<SseMessage>().map((m) => `${m.channel}${m.seq}`);
    expect(new Set(seqs).size, 'no duplicate').toBe(seqs.length);
  });
});
