import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import type { Message } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';

const servers: RunningServer[] = [];
async function serve(args: string[] = [], opts: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  const s = await startServer(args, opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  closeClients();
  await Promise.all(servers.splice(0).map(cleanup));
});

describe('server killed mid-stream and restarted', () => {
  it('clients reconnect with backoff, resubscribe, and an outage publish is delivered exactly once', async () => {
    const first = await serve();
    const [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
    const pub = client(first.url, { token: alice });
    const sub = client(first.url, { token: bob });
    const got: Message[] = [];
    sub.channels.get('live').on((m) => got.push(m));
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
    await raw.auth(await devtoken('foony', 'gina', ['--ttl', '1s']));
    expect(await raw.waitFor((f) => f.t === 'err', 4000)).toMatchObject({ code: 40102 });
    expect(await raw.waitClosed(8000)).toMatchObject({ code: 4102 });
  });
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
