/**
 * The HTTP API and the upgrade path under hostile requests: bodies that are not JSON or too big,
 * Content-Length that lies, unknown routes, request smuggling shapes, and WebSocket origins.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import { cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { bystander, collect, exchange, sign, tcp, type Bystander } from './support.js';

let server: RunningServer;
let watch: Bystander;
let token: string;
const sockets: Socket[] = [];
const raws: RawClient[] = [];

beforeAll(async () => {
  server = await startServer(['--allowed-origins', 'https://good.example']);
  watch = await bystander(server);
  token = await sign('hostile', 'rest');
});
afterAll(async () => {
  closeClients();
  await cleanup(server);
});
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const r of raws.splice(0)) r.close();
});

interface Reply {
  status: number;
  body: string;
  json?: { error?: { code: number; statusCode: number; message: string } } & Record<string, unknown>;
}

async function request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${server.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : new Uint8Array(body) }),
  });
  const text = await res.text();
  let json: Reply['json'];
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: text, json };
}

/** Write raw bytes to the HTTP port; resolves with what came back once the server closed or `settle` matched. */
async function rawHttp(bytes: string | Buffer, settle: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  const socket = await tcp(server);
  sockets.push(socket);
  const got = collect(socket);
  socket.write(bytes);
  await Promise.race([got.closed, until(() => settle(got.text()), 'a response on the raw socket', timeoutMs)]);
  return got.text();
}

/** Parse the first HTTP response out of raw text. */
function firstResponse(text: string): { status: number; body: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const [head, ...rest] = text.split('\r\n\r\n');
  const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
  return { status, body: rest.join('\r\n\r\n').slice(0, length) };
}

const oneResponse = (text: string) => {
  const m = /content-length: *(\d+)/i.exec(text);
  const end = text.indexOf('\r\n\r\n');
  return m !== null && end >= 0 && text.length >= end + 4 + Number(m[1]);
};

/** The server answers a normal request quickly: the check run while something hostile is going on. */
async function healthy(label: string): Promise<void> {
  const started = Date.now();
  const res = await fetch(`${server.http}/healthz`, { signal: AbortSignal.timeout(3000) });
  expect(res.status, `GET /healthz (${label})`).toBe(200);
  expect(Date.now() - started, `GET /healthz answered promptly (${label})`).toBeLessThan(3000);
}

describe('request bodies', () => {
  it('bodies that are not JSON get 400 with code 40001', async () => {
    const bodies: Array<string | Buffer> = ['not json', '{', '{"name":', "{'name':'x'}", Buffer.from([0xff, 0xfe, 0x00, 0x01]), '\u0000', 'NaN', '{"name":"x",}'];
    for (const body of bodies) {
      const res = await request('POST', '/channels/c/messages', body);
      expect(res.status, String(body)).toBe(400);
      expect(res.json?.error, String(body)).toMatchObject({ code: 40001, statusCode: 400 });
    }
    // JSON of the wrong shape: also 40001.
    for (const body of ['[]', 'null', '"name"', '5', '{"name":5}', '{"name":"n","messageId":5}', '{"name":"n","encoding":[]}', '{"name":"n","messageId":"' + 'x'.repeat(129) + '"}']) {
      const res = await request('POST', '/channels/c/messages', body);
      expect(res.status, body).toBe(400);
      expect(res.json?.error?.code, body).toBe(40001);
    }
    const key = (await runCli(['keys', 'create', '--app', 'hostile', '--data-dir', server.dataDir])).stdout.trim();
    for (const body of ['{oops', '[]', '{"clientId":5}', '{"clientId":"x","ttl":"forever"}', '{"clientId":"x","ttl":-5}', '{"clientId":"x","capability":"nope"}']) {
      const res = await request('POST', '/auth/token', body, { authorization: `Bearer ${key}` });
      expect(res.status, body).toBe(400);
      expect(res.json?.error?.code, body).toBe(40001);
    }
    await healthy('non-JSON bodies');
    await watch.check('non-JSON bodies');
  });

  it('a body over the 64 KiB limit gets 413 with code 41300 (declared, chunked, or only claimed)', async () => {
    const big = JSON.stringify({ name: 'n', data: 'x'.repeat(100_000) });
    const declared = await request('POST', '/channels/c/messages', big);
    expect(declared.status).toBe(413);
    expect(declared.json?.error).toMatchObject({ code: 41300, statusCode: 413 });

    // Chunked, no Content-Length: refused while streaming.
    const chunk = 'x'.repeat(16_000);
    let chunked = `POST /channels/c/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
    chunked += `${Buffer.byteLength('{"name":"n","data":"').toString(16)}\r\n{"name":"n","data":"\r\n`;
    for (let i = 0; i < 6; i++) chunked += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    chunked += '2\r\n"}\r\n0\r\n\r\n';
    const streamed = firstResponse(await rawHttp(chunked, oneResponse));
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body).error.code).toBe(41300);

    // Only claimed: a Content-Length of 10 GB with no body is refused at once, without waiting for it.
    const claimed = firstResponse(
      await rawHttp(
        `POST /channels/c/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n`,
        oneResponse,
        3000,
      ),
    );
    expect(claimed.status).toBe(413);
    expect(JSON.parse(claimed.body).error.code).toBe(41300);
    // The big message was never stored.
    const hist = await request('GET', '/channels/c/messages');
    expect(hist.status).toBe(200);
    expect(hist.json as unknown as unknown[]).toEqual([]);
    await healthy('huge bodies');
    await watch.check('huge bodies');
  });
});

describe('Content-Length that lies', () => {
  it('claims more than is sent, then stalls: other requests and sockets are served meanwhile', async () => {
    const liars: Socket[] = [];
    for (let i = 0; i < 10; i++) {
      const s = await tcp(server);
      sockets.push(s);
      liars.push(s);
      s.write(`POST /channels/liar/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":"n",`);
    }
    // While the ten requests wait for bytes that never come:
    await healthy('stalled bodies');
    const pub = await request('POST', '/channels/other/messages', JSON.stringify({ name: 'n', data: 1 }));
    expect(pub.status).toBe(200);
    const ws = await RawClient.connect(server.url);
    raws.push(ws);
    expect(await exchange(ws, { t: 'auth', token })).toEqual([expect.objectContaining({ t: 'connected' })]);
    await watch.check('stalled bodies');
    // The half-sent publishes were not stored.
    const hist = await request('GET', '/channels/liar/messages');
    expect(hist.json).toEqual([]);
    for (const s of liars) s.destroy();
    await healthy('after the liars left');
  });

  it('claims less than is sent: the client gets a 400, the leftover bytes are never executed, nothing crashes', async () => {
    const body = '{"name":"n","data":"this is longer than five bytes"}';
    const text = await rawHttp(
      `POST /channels/short/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n${body}`,
      (t) => /^HTTP\/1\.1 \d{3}/.test(t) && t.includes('\r\n\r\n'),
      3000,
    );
    // The 5-byte body is not JSON (40001 from the API) and the leftover is not a request (400 from the
    // HTTP parser, which may come first and close the socket): either way, a 400.
    expect(firstResponse(text).status).toBe(400);
    // A valid JSON body of exactly the declared length, followed by garbage.
    const exact = '{"name":"short","data":1}';
    const text2 = await rawHttp(
      `POST /channels/short/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${exact.length}\r\n\r\n${exact},"name":"injected"}`,
      (t) => /^HTTP\/1\.1 \d{3}/.test(t) && t.includes('\r\n\r\n'),
      3000,
    );
    expect([200, 400]).toContain(firstResponse(text2).status);
    await healthy('short Content-Length');
    const hist = await request('GET', '/channels/short/messages');
    const names = (hist.json as unknown as Array<{ name: string }>).map((m) => m.name);
    expect(names.length).toBeLessThanOrEqual(1);
    expect(names.every((n) => n === 'short'), `stored: ${JSON.stringify(names)}`).toBe(true);
    await watch.check('short Content-Length');
  });

  it('smuggling shapes (two Content-Lengths, Content-Length with chunked, negative or non-numeric lengths) get 400 without a crash', async () => {
    const head = `POST /channels/smuggle/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n`;
    const body = '{"name":"n"}';
    for (const [what, headers] of [
      ['two different Content-Lengths', `Content-Length: ${body.length}\r\nContent-Length: 3\r\n`],
      ['Content-Length and chunked', `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n`],
      ['negative Content-Length', 'Content-Length: -1\r\n'],
      ['non-numeric Content-Length', 'Content-Length: abc\r\n'],
      ['Content-Length with a plus sign', `Content-Length: +${body.length}\r\n`],
    ]) {
      const text = await rawHttp(`${head}${headers}\r\n${body}`, (t) => /^HTTP\/1\.1 \d{3}/.test(t), 3000);
      expect(firstResponse(text).status, what).toBe(400);
    }
    const hist = await request('GET', '/channels/smuggle/messages');
    expect(hist.json).toEqual([]);
    await healthy('smuggling shapes');
    await watch.check('smuggling shapes');
  });
});

describe('routes', () => {
  it('unknown routes get 404 with code 40400; a wrong method is refused with a coded error', async () => {
    for (const path of ['/nope', '/channels', '/channels/c', '/channels/c/messages/extra', '/auth', '/%', '/%E0%A4%A', '/channels/c/messages/..%2F..%2Fhealthz', '/' + 'a'.repeat(5000)]) {
      const res = await request('GET', path);
      expect(res.status, path.slice(0, 40)).toBe(404);
      expect(res.json?.error, path.slice(0, 40)).toMatchObject({ code: 40400, statusCode: 404 });
    }
    for (const [method, path] of [
      ['DELETE', '/channels/c/messages'],
      ['PUT', '/auth/token'],
      ['PATCH', '/healthz'],
    ]) {
      const res = await request(method, path);
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
      expect(res.json?.error?.code, `${method} ${path}`).toBeTypeOf('number');
    }
    // Encoded names still go through channel-name validation (sent raw: fetch would normalise %2E%2E).
    for (const raw of ['%2E%2E', 'a%2E%2Eb', '%2Ehidden', 'caf%C3%A9', 'a%00b', '%20', 'x'.repeat(256)]) {
      const body = '{"name":"n"}';
      const text = await rawHttp(
        `POST /channels/${raw}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        oneResponse,
        3000,
      );
      const res = firstResponse(text);
      expect(res.status, raw.slice(0, 20)).toBe(400);
      expect(JSON.parse(res.body).error.code, raw.slice(0, 20)).toBe(40001);
    }
    await healthy('unknown routes');
    await watch.check('unknown routes');
  });
});

describe('WebSocket origins', () => {
  function upgrade(path: string, headers: Record<string, string>): Promise<{ opened: boolean; status?: number }> {
    return new Promise((resolve) => {
      const ws = new WebSocket(`${server.url}${path}`, { headers });
      ws.once('open', () => {
        ws.terminate();
        resolve({ opened: true });
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve({ opened: false, status: res.statusCode });
        ws.terminate();
      });
      ws.once('error', () => resolve({ opened: false }));
    });
  }

  it('an upgrade from an origin outside --allowed-origins gets 403; the allowed origin connects and authenticates', async () => {
    for (const origin of ['https://evil.example', 'https://good.example.evil.com', 'http://good.example', 'https://good.example:8443', 'null', 'https://evil.example, https://good.example']) {
      for (const path of ['/', '/ws']) {
        expect(await upgrade(path, { Origin: origin }), `${origin} on ${path}`).toEqual({ opened: false, status: 403 });
      }
    }
    const good = await RawClient.connect(server.url, { Origin: 'https://good.example' });
    raws.push(good);
    expect(await exchange(good, { t: 'auth', token })).toEqual([expect.objectContaining({ t: 'connected' })]);
    expect(await exchange(good, { t: 'sub', id: 1, channel: 'origin' })).toEqual([expect.objectContaining({ t: 'ack' })]);
    await watch.check('foreign origins');
  });
});
