/**
 * Hostile requests to `GET /sse` of `hubbub serve`: no or bad credentials, channels the token may not
 * read, too many or invalid channels, a reader that never reads, message names that try to forge
 * stream fields. Each answer is a JSON error with a code (never a crash), and a bystander stream on
 * the same server keeps receiving.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { SseClient } from '../support/sse-client.js';
import { until } from '../support/wait.js';
import { sign, tcp } from './support.js';
import { SignJWT } from 'jose';
import { readFileSync } from 'node:fs';

const streams: SseClient[] = [];
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});

async function open(server: RunningServer, query: string, options: Parameters<typeof SseClient.open>[1] = {}): Promise<SseClient> {
  const s = await SseClient.open(`${server.http}/sse${query}`, options);
  streams.push(s);
  return s;
}

async function refusal(s: SseClient): Promise<{ status: number; code: number; message: string }> {
  expect(s.response.headers.get('content-type')).toContain('application/json');
  const body = (await s.response.json()) as { error: { code: number; message: string } };
  return { status: s.status, code: body.error.code, message: body.error.message };
}

async function publish(server: RunningServer, token: string, channel: string, body: unknown): Promise<void> {
  const res = await fetch(`${server.http}/channels/${encodeURIComponent(channel)}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

describe('GET /sse refuses what it must', () => {
  let server: RunningServer;
  let token: string;
  let bystander: SseClient;
  let key: string;

  beforeAll(async () => {
    server = await startServer(['--max-subscriptions', '100']);
    token = await sign('hostile', 'reader');
    const created = await runCli(['keys', 'create', '--app', 'hostile', '--data-dir', server.dataDir]);
    key = created.stdout.trim();
    bystander = await SseClient.open(`${server.http}/sse?channel=bystander&token=${token}`);
  });
  afterAll(async () => {
    bystander?.close();
    await cleanup(server);
  });

  /** The server still runs and the bystander stream still gets what is published. */
  async function bystanderStillServed(label: string): Promise<void> {
    expect(server.proc.exitCode, label).toBeNull();
    const before = bystander.events.length;
    await publish(server, token, 'bystander', { name: 'alive', data: label });
    await until(() => bystander.events.length > before, `the bystander after ${label}`);
  }

  it('401 (40101) without a token, with a malformed, forged or foreign token', async () => {
    const forged = await new SignJWT({ app: 'hostile' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-servers-signing-key-0123456789'));
    for (const [what, query, headers] of [
      ['no token', '?channel=a', {}],
      ['empty token', '?channel=a&token=', {}],
      ['garbage token', '?channel=a&token=garbage', {}],
      ['forged signature', `?channel=a&token=${forged}`, {}],
      ['alg none', `?channel=a&token=${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"app":"hostile","sub":"m","exp":9999999999}').toString('base64url')}.`, {}],
      ['garbage bearer', '?channel=a', { authorization: 'Bearer garbage' }],
      ['basic with a wrong key', '?channel=a', { authorization: `Basic ${Buffer.from('hostile.nope:secret').toString('base64')}` }],
    ] as Array<[string, string, Record<string, string>]>) {
      const s = await open(server, query, { headers });
      expect(await refusal(s), what).toMatchObject({ status: 401, code: 40101 });
    }
    await bystanderStillServed('bad tokens');
  });

  it('401 (40102) with an expired token', async () => {
    const expired = await sign('hostile', 'late', {}, -10);
    expect(await refusal(await open(server, `?channel=a&token=${expired}`))).toMatchObject({ status: 401, code: 40102 });
  });

  it('never takes an API key in the URL (proxies log URLs), only in the Authorization header', async () => {
    const inUrl = await refusal(await open(server, `?channel=a&token=${encodeURIComponent(key)}`));
    expect(inUrl).toMatchObject({ status: 401, code: 40101 });
    expect(inUrl.message).toMatch(/Authorization/);
    const inHeader = await open(server, '?channel=a', { headers: { authorization: `Bearer ${key}` } });
    expect(inHeader.status).toBe(200);
  });

  it('a stream opened with an API key ends within 2 s of the key being revoked; it cannot come back', async () => {
    const made = await runCli(['keys', 'create', '--app', 'hostile', '--data-dir', server.dataDir]);
    const revocable = made.stdout.trim();
    const s = await open(server, '?channel=revocable', { headers: { authorization: `Bearer ${revocable}` } });
    expect(s.status).toBe(200);
    const name = revocable.split(':')[0];
    expect((await runCli(['keys', 'revoke', name, '--data-dir', server.dataDir])).code).toBe(0);
    await until(() => s.serverEnded, 'the stream to end', 5000);
    const again = await open(server, '?channel=revocable', { headers: { authorization: `Bearer ${revocable}` } });
    expect(await refusal(again)).toMatchObject({ status: 401, code: 40101 });
  });

  it('403 (40301) for a channel the token may not subscribe to, naming it; nothing is streamed', async () => {
    const narrow = await sign('hostile', 'narrow', { capability: { 'chat:*': ['subscribe'], 'secret': ['publish', 'history'] } });
    const s = await open(server, `?channel=chat:ok&channel=secret&token=${narrow}`);
    const r = await refusal(s);
    expect(r).toMatchObject({ status: 403, code: 40301 });
    expect(r.message).toContain('secret');
    expect((await open(server, `?channel=chat:ok&token=${narrow}`)).status).toBe(200);
    const nothing = await sign('hostile', 'nothing', { capability: {} });
    expect(await refusal(await open(server, `?channel=chat:ok&token=${nothing}`))).toMatchObject({ status: 403, code: 40301 });
  });

  it('400 (40001) for invalid channel names, or none at all', async () => {
    for (const query of [
      '',
      '?',
      '?channel=',
      '?channel=a..b',
      '?channel=.a',
      '?channel=a.',
      '?channel=a%2Fb',
      '?channel=a%20b',
      '?channel=%E4%B8%89',
      `?channel=${'x'.repeat(256)}`,
      '?channel=ok&channel=bad%00name',
      '?channel=a,b',
    ]) {
      const s = await open(server, `${query}${query.includes('?') ? '&' : '?'}token=${token}`);
      expect(await refusal(s), query.slice(0, 40)).toMatchObject({ status: 400, code: 40001 });
    }
    await bystanderStillServed('bad names');
  });

  it('42900 for more channels than a stream may carry (64, or --max-subscriptions when lower)', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `channel=c${i}`).join('&');
    const r = await refusal(await open(server, `?${many(65)}&token=${token}`));
    expect(r).toMatchObject({ status: 429, code: 42900 });
    expect(r.message).toMatch(/64/);
    expect((await open(server, `?${many(64)}&token=${token}`)).status).toBe(200);
    // A channel named twice is one channel.
    expect((await open(server, `?${many(64)}&channel=c0&token=${token}`)).status).toBe(200);
  });

  it('405 (40500) for anything but GET', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${server.http}/sse?channel=a&token=${token}`, { method });
      expect(res.status, method).toBe(405);
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(40500);
    }
  });

  it('a message name cannot forge stream fields: a name with line breaks arrives as `message`, exact in data.name', async () => {
    const s = await open(server, `?channel=inject&token=${token}`);
    await until(() => s.lastEventId !== '', 'the first id');
    const evil = 'x\nid: forged\nevent: forged\ndata: {"channel":"admin"}\n\nevent: forged\r\ndata: 1\r\r';
    await publish(server, token, 'inject', { name: evil, data: 'payload' });
    await publish(server, token, 'inject', { name: 'after', data: 'next' });
    await until(() => s.events.length >= 2, 'two events');
    expect(s.events.map((e) => e.event)).toEqual(['message', 'after']);
    expect(JSON.parse(s.events[0].data)).toMatchObject({ name: evil, data: 'payload', channel: 'inject' });
    expect(s.events.every((e) => !e.lastEventId.includes('forged'))).toBe(true);
  });

  it('a hostile Last-Event-ID (huge, binary-ish, forged) is a fresh stream, never a 400', async () => {
    for (const value of ['9'.repeat(8 * 1024), 'v1,' + 'AAAAAAAA:9007199254740991:x,'.repeat(100), 'v1,AAAAAAAA:1:%00', '\u00ff\u00fe']) {
      const s = await open(server, `?channel=lei&token=${token}`, { headers: { 'last-event-id': value } });
      expect(s.status).toBe(200);
      s.close();
    }
    await bystanderStillServed('hostile Last-Event-ID');
  });
});

describe('GET /sse and origins', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--allowed-origins', 'https://app.example']);
  });
  afterAll(() => cleanup(server));

  it('403 (40300) for a browser page of an origin not allowed; the allowed origin gets its CORS header', async () => {
    const token = await sign('hostile', 'origin');
    const refused = await open(server, `?channel=a&token=${token}`, { headers: { origin: 'https://evil.example' } });
    expect(await refusal(refused)).toMatchObject({ status: 403, code: 40300 });
    const allowed = await open(server, `?channel=a&token=${token}`, { headers: { origin: 'https://app.example' } });
    expect(allowed.status).toBe(200);
    expect(allowed.response.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });
});

describe('GET /sse and a reader that never reads', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--max-buffered', '65536']);
  });
  afterAll(() => cleanup(server));

  it('is cut once --max-buffered bytes wait unsent; a reading stream on the same channel gets everything', async () => {
    const token = await sign('hostile', 'slow');
    const reader = await open(server, `?channel=flood&token=${token}`);
    const socket = await tcp(server);
    socket.write(`GET /sse?channel=flood&token=${token} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    // Read the headers, then stop reading for good.
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.pause();
    const big = 'x'.repeat(48 * 1024);
    let sent = 0;
    const cut = () => server.logs.some((line) => line.includes('slow consumer'));
    // The kernel's socket buffers take a few MiB before anything waits in the server; bounded.
    while (!cut() && sent < 1500) {
      await publish(server, token, 'flood', { name: 'big', data: `${sent}:${big}` });
      sent++;
    }
    await until(cut, 'the slow reader to be cut');
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.resume();
    await closed;
    await until(() => reader.events.length === sent, 'every message at the reading stream', 20_000);
    expect(server.proc.exitCode).toBeNull();
    socket.destroy();
  });
});

describe('GET /sse and resumes that never read', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--max-buffered', '1048576', '--history-limit', '1000', '--rest-publish-burst', '2000']);
  });
  afterAll(() => cleanup(server));

  /** The server process's resident memory, from /proc. */
  function residentBytes(): number {
    const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  }

  it('hold a page of the catch-up each, not the whole history: 12 stalled resumes of 18 MB cost far less than 12 × 18 MB', async () => {
    const token = await sign('hostile', 'hoarder');
    // A cursor from before the history: the stream's first id.
    const first = await open(server, `?channel=archive&token=${token}`);
    await until(() => first.lastEventId !== '', 'the opening id');
    const cursor = first.lastEventId;
    first.close();
    const big = 'z'.repeat(60 * 1024);
    for (let i = 0; i < 300; i++) await publish(server, token, 'archive', { name: 'page', data: `${i}:${big}` });
    const before = residentBytes();
    const sockets = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const socket = await tcp(server);
        socket.write(`GET /sse?channel=archive&token=${token} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: ${cursor}\r\n\r\n`);
        await new Promise<void>((resolve) => socket.once('data', () => resolve()));
        socket.pause();
        return socket;
      }),
    );
    // Nothing signals that a stalled stream has taken all it will: give the catch-ups time to fill the
    // kernel's buffers and the server's queue (the old code had read all 12 histories well within this).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const grown = residentBytes() - before;
    // The whole history is 18 MB of JSON (more as objects); each stream may hold a page and its queue.
    expect(grown, `resident memory grew by ${Math.round(grown / 1e6)} MB`).toBeLessThan(80e6);
    // A reading resume still gets all 300 messages, in order.
    const reader = await open(server, `?channel=archive&token=${token}`, { lastEventId: cursor });
    await until(() => reader.events.length === 300, 'the whole catch-up at a reading stream', 20_000);
    expect(reader.events.map((e) => Number(JSON.parse(e.data).data.split(':')[0]))).toEqual(Array.from({ length: 300 }, (_, i) => i));
    for (const socket of sockets) socket.destroy();
    expect(server.proc.exitCode).toBeNull();
  }, 60_000);
});
