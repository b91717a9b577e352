/**
 * SSE requests carrying a Last-Event-ID that cannot be honoured: bogus, negative, huge, non-numeric,
 * very long, raw bytes. Hubbub serves SSE through `createRealtime({ driver: 'sse' })` (and the
 * standalone server's `/admin/stream`).
 *
 * Expected behaviour (docs/embedding.md): the stream is served (200, text/event-stream) without any
 * replay, and live events keep coming with fresh numeric ids. Not a 400: browsers send Last-Event-ID
 * by themselves on every reconnect and give up for good on any answer other than 200, so refusing a
 * stale or mangled id would cut a client off instead of letting it carry on from now. A header past
 * Node's size limit is refused by the HTTP parser with 431, and the server carries on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createRealtime, sendWebResponse, toWebRequest, type Realtime } from '@hubbub/server';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { until } from '../support/wait.js';
import { collect, tcp } from './support.js';

interface SseEvent {
  event: string;
  data: unknown;
  id?: string;
}

let realtime: Realtime;
let http: Server;
let port: number;
const aborts: AbortController[] = [];

/** SSE blocks → events (comments skipped); returns what is left of an unfinished block. */
function parseSse(buffer: string, into: SseEvent[]): string {
  let end: number;
  while ((end = buffer.indexOf('\n\n')) >= 0) {
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      fields[line.slice(0, i)] = line.slice(i + 1).trimStart();
    }
    if (fields.event) into.push({ event: fields.event, data: JSON.parse(fields.data!), id: fields.id });
  }
  return buffer;
}

/** Open a stream and read it as parsed events, incrementally. */
async function stream(headers: Record<string, string> = {}) {
  const controller = new AbortController();
  aborts.push(controller);
  const res = await fetch(`http://127.0.0.1:${port}/?user=u-${randomUUID().slice(0, 6)}&channel=feed`, { headers, signal: controller.signal });
  const events: SseEvent[] = [];
  if (res.status === 200) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer = parseSse(buffer + decoder.decode(chunk, { stream: true }), events);
        }
      } catch {
        // aborted
      }
    })();
  }
  return { res, events, close: () => controller.abort() };
}

/**
 * Broadcast a marker to the channel and wait for it: the logged events (those with an id) the stream
 * got before it were replayed. (Presence events of other streams have no id and are live.)
 */
async function replayed(s: { events: SseEvent[] }): Promise<SseEvent[]> {
  const marker = randomUUID();
  await realtime.toChannel('feed').broadcast({ event: 'live', data: marker });
  await until(() => s.events.some((e) => e.data === marker), 'the live marker');
  const i = s.events.findIndex((e) => e.data === marker);
  expect(s.events[i]!.id, 'the live event carries a fresh numeric id').toMatch(/^\d+$/);
  return s.events.slice(0, i).filter((e) => e.id !== undefined);
}

beforeAll(async () => {
  realtime = createRealtime({ driver: 'sse', heartbeat: 60_000 });
  http = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const { response } = realtime.sse(toWebRequest(req, res), {
      userId: url.searchParams.get('user') ?? undefined,
      channels: url.searchParams.getAll('channel'),
    });
    void sendWebResponse(response, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  port = (http.address() as AddressInfo).port;
  // Ids 1..5 are in the replay log.
  for (let i = 1; i <= 5; i++) await realtime.toChannel('feed').broadcast({ event: 'old', data: i });
});

afterAll(async () => {
  for (const a of aborts) a.abort();
  await realtime.close();
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

describe('SSE Last-Event-ID', () => {
  it('a valid id replays what came after it (the control case)', async () => {
    const s = await stream({ 'last-event-id': '3' });
    expect(s.res.status).toBe(200);
    expect((await replayed(s)).map((e) => e.data)).toEqual([4, 5]);
    s.close();
  });

  it('a bogus, negative, huge, non-numeric or very long Last-Event-ID gets the live stream without replay', async () => {
    const bogus: Array<[string, string]> = [
      ['non-numeric', 'not-a-number'],
      ['negative', '-1'],
      ['negative zero', '-0'],
      ['fraction', '1.5'],
      ['exponent', '1e3'],
      ['hex', '0x10'],
      ['NaN', 'NaN'],
      ['Infinity', 'Infinity'],
      ['prototype name', '__proto__'],
      ['JSON', '{"seq":1}'],
      ['a list (two headers joined)', '1, 2'],
      ['huge (20 digits)', '99999999999999999999'],
      ['beyond 2^53', '9007199254740993'],
      ['from the future (a restarted server)', '999999999999999'],
      ['very long digits (8 KB)', '7'.repeat(8 * 1024)],
      ['very long text (12 KB)', 'x'.repeat(12 * 1024)],
      ['unicode', '三'],
    ];
    for (const [what, value] of bogus) {
      const s = await stream({ 'last-event-id': encodeURI(value) === value ? value : Buffer.from(value).toString('latin1') });
      expect(s.res.status, what).toBe(200);
      expect(s.res.headers.get('content-type'), what).toContain('text/event-stream');
      expect(await replayed(s), what).toEqual([]);
      s.close();
    }
    await until(() => realtime.connectionCount === 0, 'every stream closed');
  });

  it('an empty Last-Event-ID is a fresh start: no replay', async () => {
    const s = await stream({ 'last-event-id': '' });
    expect(s.res.status).toBe(200);
    expect(await replayed(s)).toEqual([]);
    s.close();
  });

  it('a Last-Event-ID past the header size limit gets 431 from the HTTP parser; the server keeps serving', async () => {
    const socket = await tcp({ port } as RunningServer);
    const got = collect(socket);
    socket.write(`GET /?channel=feed HTTP/1.1\r\nHost: x\r\nLast-Event-ID: ${'9'.repeat(64 * 1024)}\r\n\r\n`);
    await got.closed;
    expect(got.text()).toMatch(/^HTTP\/1\.1 431 /);
    const s = await stream();
    expect(s.res.status).toBe(200);
    expect(await replayed(s)).toEqual([]);
    s.close();
  });

  it('raw bytes the fetch API would refuse (NUL, bare CR, high bytes) get 400 from the parser or the stream without replay, never a crash', async () => {
    for (const [what, value] of [
      ['high bytes', Buffer.from([0xff, 0xfe, 0x35])],
      ['NUL', Buffer.from('5\u00006')],
      ['bare CR', Buffer.from('5\r6')],
      ['obs-fold continuation', Buffer.from('5\r\n 6')],
    ] as const) {
      const socket = await tcp({ port } as RunningServer);
      const got = collect(socket);
      socket.write(Buffer.concat([Buffer.from('GET /?channel=feed HTTP/1.1\r\nHost: x\r\nLast-Event-ID: '), value, Buffer.from('\r\n\r\n')]));
      await until(() => /^HTTP\/1\.1 \d{3}/.test(got.text()) && got.text().includes('\r\n\r\n'), `an answer (${what})`);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got.text())![1]);
      expect([200, 400], what).toContain(status);
      if (status === 200) {
        // Chunked encoding aside, the body is SSE text: no logged event before the live marker.
        const events: SseEvent[] = [];
        const body = () => got.text().slice(got.text().indexOf('\r\n\r\n') + 4).replace(/\r\n[0-9a-f]+\r\n/g, '');
        const live = { get events() { events.length = 0; parseSse(body(), events); return events; } };
        expect(await replayed(live), what).toEqual([]);
      }
      socket.destroy();
    }
    // Still serving.
    const s = await stream({ 'last-event-id': '4' });
    expect((await replayed(s)).filter((e) => e.event === 'old').map((e) => e.data)).toEqual([5]);
    s.close();
  });
});

describe('the standalone server /admin/stream', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--admin-key', 'hostile-admin-key-0123456789']);
  });
  afterAll(() => cleanup(server));

  it('ignores any Last-Event-ID: 200 and a fresh snapshot', async () => {
    for (const value of ['not-a-number', '-1', '9'.repeat(8 * 1024)]) {
      const controller = new AbortController();
      const res = await fetch(`${server.http}/admin/stream`, {
        headers: { authorization: 'Bearer hostile-admin-key-0123456789', 'last-event-id': value },
        signal: controller.signal,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('event: snapshot')) text += new TextDecoder().decode((await reader.read()).value);
      controller.abort();
    }
    expect(server.proc.exitCode).toBeNull();
  });
});
