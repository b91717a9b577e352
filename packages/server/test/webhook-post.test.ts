import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { DestinationPolicy } from '../src/service/webhooks/destination-policy.js';
import { REPLY_CAP_BYTES, postWebhook } from '../src/service/webhooks/post.js';

const open = new DestinationPolicy({ allowPrivate: true });
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

interface Receiver {
  url: string;
  requests: Array<{ method?: string; url?: string; headers: IncomingMessage['headers']; body: string }>;
  connections: number;
}

async function receiver(answer: (res: ServerResponse, req: IncomingMessage) => void): Promise<Receiver> {
  const rx: Receiver = { url: '', requests: [], connections: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      rx.requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      answer(res, req);
    });
  });
  server.on('connection', () => rx.connections++);
  await listen(server);
  closers.push(() => closeHttp(server));
  rx.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return rx;
}

function listen(server: Server | TcpServer): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_1' };

describe('postWebhook', () => {
  it('POSTs the body and headers, and a 2xx is delivered', async () => {
    const rx = await receiver((res) => res.writeHead(204).end());
    const outcome = await postWebhook(rx.url, headers, '{"a":1}', { policy: open });
    expect(outcome).toEqual({ delivered: true, status: 204 });
    expect(rx.requests).toHaveLength(1);
    expect(rx.requests[0]).toMatchObject({ method: 'POST', url: '/hooks', body: '{"a":1}' });
    expect(rx.requests[0]!.headers).toMatchObject({ 'webhook-id': 'msg_1', 'content-type': 'application/json', 'content-length': '7' });
  });

  it.each([301, 302, 303, 307, 308])('a %i is a failure and its Location is never requested', async (status) => {
    const internal = await receiver((res) => res.writeHead(200).end());
    const rx = await receiver((res) => res.writeHead(status, { location: internal.url }).end());
    const outcome = await postWebhook(rx.url, headers, '{}', { policy: open });
    expect(outcome).toMatchObject({ delivered: false, status });
    expect(outcome.delivered === false && outcome.reason).toMatch(/redirect/i);
    expect(internal.connections).toBe(0);
  });

  it('a non-2xx is a failure, with the start of its reply kept for the log', async () => {
    const rx = await receiver((res) => res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance'));
    const outcome = await postWebhook(rx.url, headers, '{}', { policy: open });
    expect(outcome).toEqual({ delivered: false, status: 503, reason: 'HTTP 503', reply: 'down for maintenance' });
  });

  it(`reads at most ${REPLY_CAP_BYTES} bytes of a failed reply, then hangs up`, async () => {
    let closed = false;
    let sent = 0;
    const rx = await receiver((res) => {
      res.writeHead(500);
      res.on('close', () => (closed = true));
      const chunk = Buffer.alloc(64 * 1024, 'e');
      const pour = () => {
        while (!res.destroyed && sent < 512 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pour);
        }
      };
      pour();
    });
    const outcome = await postWebhook(rx.url, headers, '{}', { policy: open });
    expect(outcome).toMatchObject({ delivered: false, status: 500 });
    expect(outcome.delivered === false && outcome.reply!.length).toBeLessThanOrEqual(REPLY_CAP_BYTES);
    await expect.poll(() => closed).toBe(true);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('a 2xx with an endless body is delivered at once, the body unread', async () => {
    let closed = false;
    const rx = await receiver((res) => {
      res.writeHead(200);
      res.on('close', () => (closed = true));
      const timer = setInterval(() => res.write('x'.repeat(1024)), 5);
      res.on('close', () => clearInterval(timer));
    });
    const started = Date.now();
    const outcome = await postWebhook(rx.url, headers, '{}', { policy: open, responseTimeoutMs: 2000 });
    expect(outcome).toEqual({ delivered: true, status: 200 });
    expect(Date.now() - started).toBeLessThan(1000);
    await expect.poll(() => closed).toBe(true);
  });

  it('a receiver that accepts the connection and never answers fails after the response timeout', async () => {
    const sockets: Socket[] = [];
    let closedAt = 0;
    const silent = createTcpServer((socket) => {
      sockets.push(socket);
      socket.resume();
      socket.on('close', () => (closedAt = Date.now()));
    });
    await listen(silent);
    closers.push(async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const started = Date.now();
    const outcome = await postWebhook(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`, headers, '{}', { policy: open, responseTimeoutMs: 300 });
    const took = Date.now() - started;
    expect(outcome).toMatchObject({ delivered: false, reason: expect.stringMatching(/timed out/) });
    expect(outcome.delivered === false && outcome.status).toBeUndefined();
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
    await expect.poll(() => closedAt).toBeGreaterThan(0);
  });

  it('a reply that starts but never ends fails after the response timeout', async () => {
    const rx = await receiver((res) => {
      res.writeHead(500);
      res.write('partial');
    });
    const outcome = await postWebhook(rx.url, headers, '{}', { policy: open, responseTimeoutMs: 300 });
    expect(outcome).toMatchObject({ delivered: false, status: 500, reason: expect.stringMatching(/timed out/), reply: 'partial' });
  });

  it('a connection that cannot be made in time fails after the connect timeout', async () => {
    const stuck = new DestinationPolicy({ resolve: () => new Promise(() => {}) });
    const started = Date.now();
    const outcome = await postWebhook('http://hooks.example.com/', headers, '{}', { policy: stuck, connectTimeoutMs: 200, responseTimeoutMs: 5000 });
    expect(outcome).toMatchObject({ delivered: false, reason: expect.stringMatching(/connect.*timed out|timed out.*connect/) });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a refused destination is never contacted, and says why', async () => {
    const rx = await receiver((res) => res.writeHead(204).end());
    const strict = new DestinationPolicy();
    const port = new URL(rx.url).port;
    for (const url of [rx.url, `http://localhost:${port}/hooks`, `http://2130706433:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`]) {
      const outcome = await postWebhook(url, headers, '{}', { policy: strict });
      expect(outcome, url).toMatchObject({ delivered: false, reason: expect.stringMatching(/loopback/) });
    }
    expect(rx.connections).toBe(0);
  });

  it('a name is connected to through the policy: allowed names and allowPrivate reach it', async () => {
    const rx = await receiver((res) => res.writeHead(204).end());
    const url = `http://localhost:${new URL(rx.url).port}/hooks`;
    expect(await postWebhook(url, headers, '{}', { policy: open })).toEqual({ delivered: true, status: 204 });
    expect(await postWebhook(url, headers, '{}', { policy: new DestinationPolicy({ allow: ['localhost'] }) })).toEqual({ delivered: true, status: 204 });
    expect(await postWebhook(url, headers, '{}', { policy: new DestinationPolicy({ allow: ['127.0.0.0/8', '::1'] }) })).toEqual({ delivered: true, status: 204 });
    expect(rx.requests).toHaveLength(3);
  });

  it('a closed port is a failure with the connection error', async () => {
    const server = createTcpServer();
    await listen(server);
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const outcome = await postWebhook(`http://127.0.0.1:${port}/`, headers, '{}', { policy: open });
    expect(outcome).toMatchObject({ delivered: false, reason: expect.stringMatching(/ECONNREFUSED/) });
  });
});
