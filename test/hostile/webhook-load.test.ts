/**
 * `message.published` webhooks under a publish load, with the receiver down and then back: the
 * outside tester's F8 scaled to CI (his was 40 connections × 50/s × 20 KB for 30 s). Every publish
 * queues an event, so the outbox must cost one store write per batch, not per event, and stay within
 * --webhook-max-queue; events past it are dropped (counted and logged), not written. While all that
 * happens, and while the backlog drains to the receiver, another app's ping stays fast.
 */
import { afterAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { WebhookReceiver } from '@hubbub/client';
import { generateWebhookSecret } from '../../packages/server/src/service/webhooks/signature.js';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { closeClients } from '../support/clients.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/wait.js';
import { bystander, sign } from './support.js';

const APP = 'load';
const CONNECTIONS = 20;
/** Publishes per second per connection: the default --publish-rate. */
const RATE = 50;
const PAYLOAD_BYTES = 10_000;
const LOAD_MS = 10_000;
/** --webhook-max-queue for this test: fewer than the 10 000 events the load makes, so some are dropped. */
const MAX_QUEUE = 4000;
const MAX_PING_MS = 200;
const REPO = fileURLToPath(new URL('../..', import.meta.url));

let server: RunningServer | undefined;
let hooks: Server | undefined;
let pinger: ChildProcess | undefined;
const sockets: WebSocket[] = [];
afterAll(async () => {
  pinger?.kill('SIGKILL');
  for (const ws of sockets) ws.terminate();
  closeClients();
  hooks?.closeAllConnections();
  hooks?.close();
  await cleanup(server);
});

/**
 * Pings the server every 20 ms from a process of its own (so this test's own work cannot delay the
 * pongs), as a client of another app; `worst()` is the slowest round trip since the last call.
 */
async function pingLag(s: RunningServer, token: string): Promise<{ worst(): Promise<number> }> {
  const script = `
    import WebSocket from 'ws';
    import { createInterface } from 'node:readline';
    const ws = new WebSocket(process.argv[1]);
    let worst = 0, pending, id = 0;
    ws.on('message', (d) => {
      const f = JSON.parse(String(d));
      if (f.t === 'connected') { process.stdout.write('ready\\n'); ping(); }
      if (f.t === 'pong' && pending && f.id === pending.id) {
        worst = Math.max(worst, performance.now() - pending.at);
        pending = undefined;
        setTimeout(ping, 20);
      }
    });
    ws.on('open', () => ws.send(JSON.stringify({ t: 'auth', token: process.argv[2] })));
    function ping() { pending = { id: ++id, at: performance.now() }; ws.send(JSON.stringify({ t: 'ping', id })); }
    // A ping still unanswered counts with its age so far.
    createInterface({ input: process.stdin }).on('line', () => {
      const now = pending ? Math.max(worst, performance.now() - pending.at) : worst;
      worst = 0;
      process.stdout.write(now + '\\n');
    });`;
  pinger = spawn(process.execPath, ['--input-type=module', '-e', script, s.url, token], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: pinger.stdout! });
  const waiting: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  expect(await next()).toBe('ready');
  return {
    async worst() {
      const reply = next();
      pinger!.stdin!.write('\n');
      return Number(await reply);
    },
  };
}

async function metric(s: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`${s.http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

function dataDirBytes(s: RunningServer): number {
  return readdirSync(s.dataDir).reduce((sum, f) => sum + statSync(join(s.dataDir, f)).size, 0);
}

/** Authenticated sockets of APP that count the acks of their publishes. */
async function publishers(s: RunningServer): Promise<{ acked: Set<string>; refused: string[]; send(n: number): void }> {
  const acked = new Set<string>();
  const refused: string[] = [];
  const token = await sign(APP, 'publisher');
  const open = await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const ws = new WebSocket(s.url);
      sockets.push(ws);
      const inFlight = new Map<number, string>();
      let connected!: () => void;
      const ready = new Promise<void>((resolve) => (connected = resolve));
      ws.on('message', (data) => {
        const f = JSON.parse(String(data)) as { t: string; id?: number; code?: number; duplicate?: boolean };
        if (f.t === 'connected') return connected();
        const messageId = f.id === undefined ? undefined : inFlight.get(f.id);
        if (messageId === undefined) return;
        inFlight.delete(f.id!);
        if (f.t === 'ack' && !f.duplicate) acked.add(messageId);
        else refused.push(`${messageId}: ${String(data).slice(0, 200)}`);
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.send(JSON.stringify({ t: 'auth', token }));
      await ready;
      let id = 0;
      const pad = `c${c}-`.padEnd(PAYLOAD_BYTES, 'y');
      return (n: number) => {
        for (let k = 0; k < n; k++) {
          const messageId = `c${c}-${++id}`;
          inFlight.set(id, messageId);
          ws.send(JSON.stringify({ t: 'pub', id, channel: `load:${id % 10}`, name: 'n', data: pad, messageId }));
        }
      };
    }),
  );
  return { acked, refused, send: (n) => open.forEach((send) => send(n)) };
}

it('a publish load with a receiver down neither stalls the server nor grows the outbox past --webhook-max-queue; the queued events arrive once it is back', async () => {
  const secret = generateWebhookSecret();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-wh-load-'));
  const config = join(dir, 'hubbub.config.json');
  writeFileSync(config, JSON.stringify({ webhooks: [{ app: APP, url: `http://127.0.0.1:${port}/hooks`, secret, events: ['message.published'] }] }));
  server = await startServer(
    ['--config', config, '--webhook-allow', '127.0.0.1', '--webhook-retry', '200ms', '--webhook-max-delay', '1s', '--webhook-max-queue', String(MAX_QUEUE)],
    { dataDir: dir },
  );
  const s = server;
  const watch = await bystander(s, 'bystander-app');
  const lag = await pingLag(s, await sign('bystander-app', 'pinger'));
  const load = await publishers(s);

  // The load: 5 publishes per connection every 100 ms, the most --publish-rate allows on average.
  let depthPeak = 0;
  const started = Date.now();
  const tick = setInterval(() => load.send(RATE / 10), 100);
  try {
    while (Date.now() - started < LOAD_MS) {
      await new Promise((r) => setTimeout(r, 500));
      depthPeak = Math.max(depthPeak, await metric(s, 'hubbub_webhook_queue_depth'));
    }
  } finally {
    clearInterval(tick);
  }
  // Soft: a stall is reported together with whatever else goes wrong after it.
  expect.soft(await lag.worst(), 'ping round trip (ms) under the load').toBeLessThan(MAX_PING_MS);
  const sent = CONNECTIONS * RATE * (LOAD_MS / 1000);
  await until(() => load.acked.size + load.refused.length >= sent - CONNECTIONS * RATE, 'the acks of the load', 10_000);
  await new Promise((r) => setTimeout(r, 200)); // the last acks in flight
  expect(load.refused.slice(0, 3), 'every publish of the load is acked').toEqual([]);
  const acked = load.acked.size;

  // Every acked publish is either in the outbox or counted as dropped: nothing is lost silently.
  let depth = NaN;
  let dropped = NaN;
  await until(async () => {
    depth = await metric(s, 'hubbub_webhook_queue_depth');
    dropped = await metric(s, 'hubbub_webhook_events_dropped_total');
    return depth + dropped === acked;
  }, 'queued + dropped to account for every acked publish', 10_000).catch((err) => {
    throw new Error(`${(err as Error).message}: ${acked} acked, ${depth} queued, ${dropped} dropped`);
  });
  depthPeak = Math.max(depthPeak, depth);
  expect(depthPeak, 'the outbox never held more than --webhook-max-queue').toBeLessThanOrEqual(MAX_QUEUE);
  expect(depth, 'the outbox filled up to its bound').toBeGreaterThan(MAX_QUEUE * 0.9);
  expect(dropped).toBeGreaterThan(0);
  const dropLines = s.logs.filter((l) => l.includes('"level":40') && l.includes('webhook') && l.includes('dropped'));
  expect(dropLines.length, 'drops are logged').toBeGreaterThanOrEqual(1);
  expect(dropLines.length, 'drop warnings are rate-limited').toBeLessThanOrEqual(3);
  expect(dataDirBytes(s), 'the data dir holds about the bound, not every event').toBeLessThan(2 * MAX_QUEUE * PAYLOAD_BYTES);
  expect.soft(await lag.worst(), 'ping round trip (ms) after the load').toBeLessThan(MAX_PING_MS);

  // The receiver comes back: every queued event arrives, each a published message that was acked.
  const verifier = new WebhookReceiver(secret);
  const delivered = new Set<string>();
  const strangers: string[] = [];
  hooks = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { event } = verifier.verify<{ type: string; data: { messageId: string; data: string } }>(Buffer.concat(chunks), req.headers);
      if (event.type !== 'message.published' || !load.acked.has(event.data.messageId)) strangers.push(JSON.stringify(event).slice(0, 200));
      else if (event.data.data.length === PAYLOAD_BYTES) delivered.add(event.data.messageId);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hooks!.listen(port, '127.0.0.1', () => resolve()));
  await until(async () => delivered.size >= depth && (await metric(s, 'hubbub_webhook_queue_depth')) === 0, `the ${depth} queued events to be delivered`, 15_000).catch(
    (err) => {
      throw new Error(`${(err as Error).message}: ${delivered.size} delivered`);
    },
  );
  expect(delivered.size).toBe(depth);
  expect(strangers).toEqual([]);
  expect.soft(await lag.worst(), 'ping round trip (ms) while the backlog is delivered').toBeLessThan(MAX_PING_MS);
  await watch.check('after the webhook load');
}, 45_000);
