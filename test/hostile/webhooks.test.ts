/**
 * A webhook receiver is someone else's server: it may redirect the signed event somewhere else,
 * answer with an endless body, or accept the connection and never answer. And an endpoint may point
 * at Hubbub's own network. None of that may reach an internal address or grow the server's memory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RealtimeClient } from '@hubbub/client';
import { generateWebhookSecret } from '../../packages/server/src/service/webhooks/signature.js';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { bystander } from './support.js';

const MiB = 1024 * 1024;
/** The server's whole-response timeout (post.ts); a silent receiver is given up on after it. */
const RESPONSE_TIMEOUT_MS = 10_000;

const servers: RunningServer[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  closeClients();
  for (const close of closers.splice(0)) await close();
  await Promise.all(servers.splice(0).map(cleanup));
});

/** An HTTP receiver on 127.0.0.1 that counts connections and requests, answering with `handle`. */
async function receiver(handle: (req: IncomingMessage, res: import('node:http').ServerResponse) => void) {
  const requests: IncomingMessage[] = [];
  let connections = 0;
  const server = createHttpServer((req, res) => {
    requests.push(req);
    req.resume();
    req.on('end', () => handle(req, res));
  });
  server.on('connection', () => connections++);
  await listen(server);
  closers.push(() => closeHttp(server));
  return {
    url: `http://127.0.0.1:${portOf(server)}/hooks`,
    port: portOf(server),
    requests,
    get connections() {
      return connections;
    },
  };
}

function listen(server: Server | TcpServer): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

function portOf(server: Server | TcpServer): number {
  return (server.address() as import('node:net').AddressInfo).port;
}

function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** `hubbub serve` with one webhook endpoint for app `foony`, told about document changes. */
async function hubbubWithWebhook(url: string, extraArgs: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-hostile-wh-'));
  const config = join(dir, 'hubbub.config.json');
  writeFileSync(config, JSON.stringify({ webhooks: [{ app: 'foony', url, secret: generateWebhookSecret(), events: ['document.changed'] }] }));
  const s = await startServer(['--config', config, '--webhook-retry', '100ms', '--webhook-max-delay', '500ms', ...extraArgs], { dataDir: dir });
  servers.push(s);
  return s;
}

async function changeADocument(s: RunningServer, name = 'doc'): Promise<void> {
  const platform = new RealtimeClient({ url: s.http, token: await devtoken('foony', 'writer'), autoConnect: false });
  await platform.sync.create(name, { v: 1 });
}

/** Outbox rows still waiting, and the most attempts any of them has had. */
function outbox(s: RunningServer): { waiting: number; attempts: number } {
  const db = new Database(join(s.dataDir, 'hubbub.db'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) AS waiting, coalesce(max(attempts), 0) AS attempts FROM hubbub_webhook_outbox').get() as { waiting: number; attempts: number };
  } finally {
    db.close();
  }
}

/** The server's log entries (pino JSON lines). */
function logEntries(s: RunningServer): Array<Record<string, any>> {
  return s.logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, any>];
    } catch {
      return [];
    }
  });
}

function rssBytes(s: RunningServer): number {
  const status = readFileSync(`/proc/${s.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('outbound webhooks to a hostile receiver', () => {
  it('a 302 is a failed attempt, retried, and never followed to the Location', async () => {
    const internal = await receiver((_req, res) => res.writeHead(200).end('internal'));
    const redirector = await receiver((_req, res) => res.writeHead(302, { location: `${internal.url}/admin` }).end());
    const s = await hubbubWithWebhook(redirector.url, ['--webhook-allow-private']);
    await changeADocument(s);
    await until(() => redirector.requests.length >= 3, 'the redirecting receiver to be tried three times');
    const ids = new Set(redirector.requests.map((r) => r.headers['webhook-id']));
    expect(ids.size, 'retries of one event keep its webhook-id').toBe(1);
    expect(internal.connections, 'the Location was never contacted').toBe(0);
    expect(outbox(s).waiting, 'the event is still owed').toBe(1);
    expect(logEntries(s).some((e) => e.status === 302 && String(e.endpoint).includes(String(redirector.port)))).toBe(true);
  });

  it('a 600 MiB reply body is not read: memory stays flat and the 2xx counts as delivered', async () => {
    let sent = 0;
    let streamClosed = false;
    const chunk = Buffer.alloc(MiB, 'x');
    const flood = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(600 * MiB) });
      res.on('close', () => (streamClosed = true));
      const pour = () => {
        while (sent < 600 * MiB && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pour);
        }
        res.end();
      };
      pour();
    });
    const s = await hubbubWithWebhook(flood.url, ['--webhook-allow-private']);
    const watch = await bystander(s, 'foony');
    const before = rssBytes(s);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(s))), 20);
    try {
      await changeADocument(s);
      await until(() => flood.requests.length >= 1, 'the receiver to be called');
      const called = Date.now();
      await until(() => outbox(s).waiting === 0, 'the delivery to be recorded', RESPONSE_TIMEOUT_MS + 2000);
      expect(Date.now() - called).toBeLessThan(RESPONSE_TIMEOUT_MS);
      await until(() => streamClosed, 'the server to hang up on the reply');
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssBytes(s));
    expect(peak - before, `RSS grew from ${before} to ${peak}`).toBeLessThan(50 * MiB);
    expect(sent, 'the server hung up long before the end of the body').toBeLessThan(100 * MiB);
    expect(flood.requests.length, 'a 2xx is not retried').toBe(1);
    await watch.check('after the flood');
  });

  it('a receiver that accepts the connection and never answers fails after the response timeout and is retried', async () => {
    const opened: number[] = [];
    const closed: number[] = [];
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => {
      opened.push(Date.now());
      sockets.push(socket);
      socket.resume(); // read the request, never answer
      socket.on('close', () => closed.push(Date.now()));
    });
    await listen(silent);
    closers.push(async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const s = await hubbubWithWebhook(`http://127.0.0.1:${portOf(silent)}/`, ['--webhook-allow-private']);
    await changeADocument(s);
    await until(() => opened.length >= 2, 'a second attempt', 2 * RESPONSE_TIMEOUT_MS + 5000);
    const gaveUpAfter = closed[0]! - opened[0]!;
    expect(gaveUpAfter).toBeGreaterThanOrEqual(RESPONSE_TIMEOUT_MS - 500);
    expect(gaveUpAfter).toBeLessThan(RESPONSE_TIMEOUT_MS + 3000);
    expect(outbox(s)).toMatchObject({ waiting: 1 });
    expect(outbox(s).attempts).toBeGreaterThanOrEqual(1);
    expect(logEntries(s).some((e) => /tim(ed|e) ?out/i.test(String(e.reason)))).toBe(true);
  }, 60_000);

  it.each([
    ['a loopback address', (port: number) => `http://127.0.0.1:${port}/hooks`],
    ['a decimal IPv4 literal of loopback', (port: number) => `http://2130706433:${port}/hooks`],
    ['a name that resolves to loopback', (port: number) => `http://localhost:${port}/hooks`],
  ])('an endpoint on %s is never contacted without --webhook-allow-private', async (_what, urlFor) => {
    const internal = await receiver((_req, res) => res.writeHead(204).end());
    const url = urlFor(internal.port);
    const s = await hubbubWithWebhook(url, []);
    await changeADocument(s);
    await until(() => outbox(s).attempts >= 2, 'two refused attempts');
    expect(internal.connections, 'the private receiver was never contacted').toBe(0);
    expect(outbox(s).waiting).toBe(1);
    const refused = logEntries(s).filter((e) => /loopback/.test(String(e.reason)));
    expect(refused.length, 'each refusal is logged with its reason').toBeGreaterThanOrEqual(2);
    expect(String(refused[0]!.endpoint)).toContain(String(internal.port));
  });

  it('warns at startup about an endpoint whose host is a literal private address', async () => {
    const s = await hubbubWithWebhook('http://10.1.2.3:8080/hooks', []);
    const warning = logEntries(s).find((e) => e.level === 40 && String(e.endpoint).includes('10.1.2.3:8080'));
    expect(warning, 'a startup warning naming the endpoint').toBeDefined();
    expect(String(warning!.msg)).toMatch(/--webhook-allow-private/);
  });
});
