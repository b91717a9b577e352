import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RealtimeClient, verifyWebhook, type Message } from '@hubbub/client';
import { generateWebhookSecret } from '../../packages/server/src/service/webhooks/signature.js';
import { SignJWT } from 'jose';
import { SIGNING_KEY, cleanup, devtoken, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { TestRedis, freePort, redisAvailable } from '../support/redis.js';
import { until } from '../support/wait.js';

const servers: RunningServer[] = [];
const afterwards: Array<() => unknown> = [];
async function serve(args: string[] = [], opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  const s = await startServer(args, opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  closeClients();
  await Promise.all(servers.splice(0).map(cleanup));
  for (const fn of afterwards.splice(0).reverse()) await fn();
});

describe('server killed mid-stream and restarted', () => {
  it('clients reconnect with backoff, resubscribe, and an outage publish is delivered exactly once', async () => {
    const first = await serve();
    const [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
    const pub = client(first.url, { token: alice });
    const sub = client(first.url, { token: bob });
    const got: Message[] = [];
    const attached: boolean[] = [];
    sub.channels.get('live').on((m) => got.push(m));
    sub.channels.get('live').onAttached((e) => attached.push(e.discontinuity));
    await sub.channels.get('live').attach();
    for (let i = 0; i < 5; i++) await pub.channels.get('live').publish('tick', i);
    await until(() => got.length === 5, 'the first five');

    const reconnects: number[] = [];
    sub.connection.on('connecting', () => reconnects.push(Date.now()));
    await first.stop('SIGKILL');
    await until(() => pub.connection.state === 'disconnected' || pub.connection.state === 'connecting', 'publisher notices');

    const during = pub.channels.get('live').publish('during-outage', 'x');
    let settled = false;
    void during.then(() => (settled = true));
    await until(() => reconnects.length >= 2, 'at least two reconnect attempts (backoff)');
    expect(settled).toBe(false);

    const second = await serve([], { port: first.port, dataDir: first.dataDir });
    await during;
    await until(() => got.some((m) => m.name === 'during-outage'), 'the outage publish');
    await pub.channels.get('live').publish('after', 'y');
    await until(() => got.some((m) => m.name === 'after'), 'a later publish');
    expect(got.filter((m) => m.name === 'during-outage')).toHaveLength(1);
    expect(got.map((m) => m.name)).toEqual(['tick', 'tick', 'tick', 'tick', 'tick', 'during-outage', 'after']);
    expect(second.port).toBe(first.port);
    // The memory engine keeps history in the process (docs/deployment.md): after a crash the channel
    // is a new stream, and the re-attach says so instead of pretending to be gapless.
    expect(attached).toEqual([false, true]);
    expect(got.map((m) => m.serial)).toEqual([1, 2, 3, 4, 5, 1, 2]);
    expect((await pub.channels.get('live').history()).map((m) => m.name)).toEqual(['during-outage', 'after']);
  });

  it('acknowledged documents, API keys and queued webhooks survive a SIGKILL (SQLite store)', async () => {
    const secret = generateWebhookSecret();
    const hookPort = await freePort();
    const first = await serve(['--webhook-retry', '200ms', '--webhook-max-delay', '500ms']);
    // The config file is read at start; the receiver is down until after the crash.
    const config = join(first.dataDir, 'hubbub.config.json');
    writeFileSync(config, JSON.stringify({ webhooks: [{ app: 'foony', url: `http://127.0.0.1:${hookPort}/`, secret, events: ['document.changed'] }] }));
    await first.stop('SIGKILL');
    const args = ['--config', config, '--webhook-retry', '200ms', '--webhook-max-delay', '500ms', '--webhook-allow-private'];
    const running = await serve(args, { dataDir: first.dataDir });

    const created = await runCli(['keys', 'create', '--app', 'foony', '--data-dir', running.dataDir]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    const docs = new RealtimeClient({ url: running.http, token: await devtoken('foony', 'writer'), autoConnect: false }).sync;
    const expected = new Map<string, { data: unknown; revision: number }>();
    const changes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const doc = await docs.create(`doc-${i}`, { n: i, v: 0 });
      expected.set(doc.name, { data: doc.data, revision: doc.revision });
      changes.push(`sync.created doc-${i} r1`);
    }
    for (let v = 1; v <= 3; v++) {
      for (let i = 0; i < 10; i++) {
        const doc = await docs.update(`doc-${i}`, { n: i, v }, { revision: v });
        expected.set(doc.name, { data: doc.data, revision: doc.revision });
        changes.push(`sync.updated doc-${i} r${v + 1}`);
      }
    }
    await docs.delete('doc-19', { revision: 1 });
    expected.delete('doc-19');
    changes.push('sync.deleted doc-19 r2'); // a delete is one revision further
    // The last write was acknowledged: crash now, with no chance to flush or drain anything.
    await running.stop('SIGKILL');

    const deliveries: Array<{ id: string; change: string }> = [];
    const hooks = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        // Stateless verification, so that a duplicate delivery would be counted rather than refused.
        const { id, event } = verifyWebhook<{ data: { type: string; topic: string; metadata: { revision: number } } }>(secret, Buffer.concat(chunks), req.headers);
        const e = event.data;
        deliveries.push({ id, change: `${e.type} ${e.topic.replace(/^sync\./, '')} r${e.metadata.revision}` });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(hookPort, '127.0.0.1', () => resolve()));
    afterwards.push(() => {
      hooks.closeAllConnections();
      return new Promise((r) => hooks.close(r));
    });

    const restarted = await serve(args, { dataDir: running.dataDir });
    const after = new RealtimeClient({ url: restarted.http, token: await devtoken('foony', 'reader'), autoConnect: false }).sync;
    const listed = await after.list({ prefix: 'doc-' });
    expect(new Map(listed.map((d) => [d.name, { data: d.data, revision: d.revision }]))).toEqual(expected);
    // The key made before the crash still mints tokens, and they work.
    const minted = await fetch(`${restarted.http}/auth/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'after-crash' }),
    });
    expect(minted.status).toBe(200);
    const raw = await RawClient.connect(restarted.url);
    expect(await raw.auth(((await minted.json()) as { token: string }).token)).toMatchObject({ t: 'connected', clientId: 'after-crash' });
    raw.close();
    // Every change queued for the webhook before the crash is delivered, each once.
    await until(() => deliveries.length >= changes.length, `${changes.length} webhook deliveries`, 20_000).catch((err: Error) => {
      const got = new Set(deliveries.map((d) => d.change));
      throw new Error(`${err.message}: ${deliveries.length} arrived, missing ${changes.filter((c) => !got.has(c)).join(', ')}`);
    });
    expect(deliveries.map((d) => d.change).sort()).toEqual([...changes].sort());
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(changes.length);
  });

  it.runIf(redisAvailable())('with --redis, history and serials survive a SIGKILL of the node: subscribers resume without a gap', async () => {
    const redis = await TestRedis.start();
    afterwards.push(() => redis.stop());
    const first = await serve(['--redis', redis.url]);
    const [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
    const pub = client(first.url, { token: alice });
    const sub = client(first.url, { token: bob });
    const got: Message[] = [];
    const attached: boolean[] = [];
    sub.channels.get('kept').on((m) => got.push(m));
    sub.channels.get('kept').onAttached((e) => attached.push(e.discontinuity));
    await sub.channels.get('kept').attach();
    for (let i = 0; i < 10; i++) await pub.channels.get('kept').publish('n', i);
    await until(() => got.length === 10, 'the first ten');

    await first.stop('SIGKILL');
    await until(() => pub.connection.state !== 'connected', 'publisher notices');
    const during = pub.channels.get('kept').publish('n', 'during');
    await serve(['--redis', redis.url], { port: first.port, dataDir: first.dataDir });
    await during;
    await pub.channels.get('kept').publish('n', 'after');
    await until(() => got.some((m) => m.data === 'after'), 'a publish after the restart');

    const expected = [...Array.from({ length: 10 }, (_, i) => i), 'during', 'after'];
    expect(got.map((m) => m.data)).toEqual(expected);
    expect(got.map((m) => m.serial)).toEqual(expected.map((_, i) => i + 1));
    expect(attached).toEqual([false, false]);
    const history = await pub.channels.get('kept').history();
    expect(history.map((m) => [m.serial, m.data])).toEqual(expected.map((d, i) => [i + 1, d]));
  });

  it('resends a publish whose ack was lost, and the server collapses the duplicate', async () => {
    const s = await serve();
    const [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
    const sub = client(s.url, { token: bob });
    const got: Message[] = [];
    sub.channels.get('once').on((m) => got.push(m));
    await sub.channels.get('once').attach();
    const pub = client(s.url, { token: alice });
    await pub.connection.once('connected');
    // Cut the publisher's socket right after its frame leaves, before the ack can come back.
    const socket = (pub.conn as unknown as { socket: { send(d: string): void; close(): void } }).socket;
    const send = socket.send.bind(socket);
    socket.send = (d: string) => {
      send(d);
      if (d.includes('"t":"pub"')) (socket as unknown as { _socket: net.Socket })._socket.destroy();
    };
    await pub.channels.get('once').publish('exactly', 'once');
    await until(() => got.length >= 1, 'delivery');
    await pub.channels.get('once').publish('next', 2);
    await until(() => got.length >= 2, 'second delivery');
    expect(got.map((m) => m.name)).toEqual(['exactly', 'next']);
  });
});

describe('heartbeats', () => {
  it('drops a silent peer within two heartbeat intervals', async () => {
    const s = await serve(['--heartbeat', '300ms']);
    // A raw TCP client that completes the upgrade and then never answers pings.
    const sock = net.connect(s.port, '127.0.0.1');
    sock.resume();
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const started = Date.now();
    await new Promise<void>((resolve) => sock.once('close', () => resolve()));
    expect(Date.now() - started).toBeLessThan(2 * 300 + 400);
  });

  it('keeps a quiet but live SDK client connected (it pings)', async () => {
    const s = await serve(['--heartbeat', '200ms']);
    const a = client(s.url, { token: await devtoken('foony', 'alice') });
    await a.connection.once('connected');
    const states: string[] = [];
    a.connection.on((c) => states.push(c.current));
    const raw = await RawClient.connect(s.url);
    await raw.auth(await devtoken('foony', 'zed'));
    await raw.waitClosed(3000).catch(() => undefined);
    expect(states).toEqual([]);
    expect(a.connection.state).toBe('connected');
  });
});

describe('token expiry while connected', () => {
  it('tells the client with 40102 and closes after the grace period unless renewed', async () => {
    const s = await serve(['--auth-grace', '300ms']);
    const raw = await RawClient.connect(s.url);
    // Minted in this process right before use (a CLI run under load can take longer than a short TTL),
    // and the steps wait on what the server says, each with a deadline far past the expected time.
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ app: 'foony' }).setProtectedHeader({ alg: 'HS256' }).setSubject('gina').setIssuedAt(now).setExpirationTime(now + 2).sign(new TextEncoder().encode(SIGNING_KEY));
    expect(await raw.auth(token)).toMatchObject({ t: 'connected' });
    expect(await raw.waitFor((f) => f.t === 'err', 30_000)).toMatchObject({ code: 40102 });
    expect(await raw.waitClosed(30_000)).toMatchObject({ code: 4102 });
  }, 70_000);
});

/** Cut a client's socket under it, as a network drop would. */
function dropSocket(realtime: { conn: unknown }): void {
  const socket = (realtime.conn as { socket?: { _socket?: net.Socket } }).socket;
  socket?._socket?.destroy();
}

describe('recovery with the memory engine', () => {
  it('a dropped subscriber gets exactly the messages it missed, in order, before new ones', async () => {
    const s = await serve();
    const [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
    const pub = client(s.url, { token: alice });
    const sub = client(s.url, { token: bob, reconnectDelayMs: 500 });
    const got: Message[] = [];
    const attached: boolean[] = [];
    const channel = sub.channels.get('recover');
    channel.on((m) => got.push(m));
    channel.onAttached((e) => attached.push(e.discontinuity));
    await channel.attach();
    for (let i = 1; i <= 3; i++) await pub.channels.get('recover').publish('n', i);
    await until(() => got.length === 3, 'three before the drop');

    dropSocket(sub);
    await until(() => sub.connection.state !== 'connected', 'the drop');
    for (let i = 4; i <= 10; i++) await pub.channels.get('recover').publish('n', i);
    await sub.connection.once('connected');
    await until(() => attached.length === 2, 're-attach');
    await pub.channels.get('recover').publish('n', 11);
    await until(() => got.length >= 11, 'all eleven');

    expect(got.map((m) => m.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(got.map((m) => m.serial)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(attached).toEqual([false, false]);
  });

  it('says discontinuity when the cursor fell out of the retained window', async () => {
    const s = await serve(['--history-limit', '3']);
    const [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
    const pub = client(s.url, { token: alice });
    const sub = client(s.url, { token: bob, reconnectDelayMs: 500 });
    const got: Message[] = [];
    const attached: boolean[] = [];
    sub.channels.get('gap').on((m) => got.push(m));
    sub.channels.get('gap').onAttached((e) => attached.push(e.discontinuity));
    await sub.channels.get('gap').attach();
    await pub.channels.get('gap').publish('n', 1);
    await until(() => got.length === 1, 'first');
    dropSocket(sub);
    await until(() => sub.connection.state !== 'connected', 'the drop');
    for (let i = 2; i <= 8; i++) await pub.channels.get('gap').publish('n', i);
    await until(() => attached.length === 2, 're-attach');
    expect(attached).toEqual([false, true]);
    expect(got.map((m) => m.data)).toEqual([1, 6, 7, 8]);
  });

  it('re-enters presence after a reconnect only with autoReenterPresence', async () => {
    const s = await serve();
    const watcher = client(s.url, { token: await devtoken('foony', 'watcher') });
    const sticky = client(s.url, { token: await devtoken('foony', 'sticky'), autoReenterPresence: true, reconnectDelayMs: 300 });
    const plain = client(s.url, { token: await devtoken('foony', 'plain'), reconnectDelayMs: 300 });
    await sticky.channels.get('lobby').presence.enter('s');
    await plain.channels.get('lobby').presence.enter('p');
    const names = async () => (await watcher.channels.get('lobby').presence.get()).map((m) => m.clientId).sort();
    await until(async () => (await names()).length === 2, 'both present');
    dropSocket(sticky);
    dropSocket(plain);
    await until(async () => sticky.connection.state === 'connected' && plain.connection.state === 'connected', 'both back', 5000);
    await until(async () => JSON.stringify(await names()) === JSON.stringify(['sticky']), 'only sticky re-entered');
  });
});

describe('history bounds per namespace', () => {
  it('keeps each namespace to its own limit', async () => {
    const s = await serve(['--namespace-history', 'ticker=2,chat=/1m']);
    const a = client(s.url, { token: await devtoken('foony', 'alice') });
    for (let i = 1; i <= 5; i++) {
      await a.channels.get('ticker:eur').publish('tick', i);
      await a.channels.get('chat:lobby').publish('line', i);
    }
    expect((await a.channels.get('ticker:eur').history()).map((m) => m.data)).toEqual([4, 5]);
    expect((await a.channels.get('chat:lobby').history()).map((m) => m.data)).toEqual([1, 2, 3, 4, 5]);
    expect((await a.channels.get('chat:lobby').history({ limit: 2 })).map((m) => m.data)).toEqual([4, 5]);
  });
});
