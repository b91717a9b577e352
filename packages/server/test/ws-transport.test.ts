import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { Wire } from '../src/core/wire.js';
import { WsTransport, type WsTransportOptions } from '../src/transport/ws.js';
import { Admission } from '../src/transport/admission.js';

let server: Server | undefined;
let transport: WsTransport | undefined;
const rawSockets: Socket[] = [];
afterEach(async () => {
  for (const socket of rawSockets.splice(0)) socket.destroy();
  await transport?.close();
  await new Promise((resolve) => server?.close(resolve));
  server = transport = undefined;
});

/**
 * A transport whose every connection, on "burst N", is sent three frames of `frameBytes` numbered
 * 3N..3N+2 and marked with the connection's own number, so no two sockets are sent the same bytes.
 */
async function burstServer(frameBytes: number): Promise<string> {
  const wires: Wire[] = [];
  transport = new WsTransport(
    { maxPayload: 65536, heartbeatMs: 60_000, maxBufferedBytes: 256 * 1024 * 1024, maxConnections: 1000 },
    {
      open(wire) {
        wires.push(wire);
        return {
          receive(data) {
            const n = Number(String(data).split(' ')[1]);
            wires.forEach((w, i) => {
              for (let k = 0; k < 3; k++) w.sendText(`${3 * n + k} ${String(i % 10).repeat(frameBytes)}`);
            });
          },
          dispose() {},
        };
      },
    },
  );
  server = createServer();
  transport.attach(server);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The numbers of the frames a socket receives; `count(n)` resolves once it has n of them. */
function collect(ws: WebSocket, mark: string, frameBytes: number): { got: number[]; count(n: number): Promise<void> } {
  const got: number[] = [];
  let wanted = Infinity;
  let reached = () => {};
  ws.on('message', (data) => {
    got.push(numberOf(String(data), mark, frameBytes));
    if (got.length >= wanted) reached();
  });
  return {
    got,
    count: (n) =>
      new Promise<void>((resolve) => {
        wanted = n;
        reached = resolve;
        if (got.length >= n) resolve();
      }),
  };
}

/**
 * A WebSocket client on a bare TCP socket, so that it can stop reading altogether (a `ws` client
 * resumes its socket by itself): the server's writes to it back up in the kernel and then in Node.
 * `onText` sees each text frame once its socket reads again (server frames are unmasked).
 */
async function rawClient(url: string, onText: (text: string) => void): Promise<Socket> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  rawSockets.push(socket);
  let unread = Buffer.alloc(0);
  let upgraded = false;
  const readFrames = () => {
    let at = 0;
    while (at + 2 <= unread.length) {
      let length = unread[at + 1] & 0x7f;
      let head = 2;
      if (length === 126) [length, head] = [unread.length >= at + 4 ? unread.readUInt16BE(at + 2) : Infinity, 4];
      else if (length === 127) [length, head] = [unread.length >= at + 10 ? Number(unread.readBigUInt64BE(at + 2)) : Infinity, 10];
      if (at + head + length > unread.length) break;
      onText(unread.subarray(at + head, at + head + length).toString());
      at += head + length;
    }
    unread = unread.subarray(at);
  };
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('data', (chunk) => {
      unread = unread.length ? Buffer.concat([unread, chunk]) : chunk;
      if (upgraded) return readFrames();
      const end = unread.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!unread.subarray(0, 12).toString().includes('101')) reject(new Error('upgrade refused'));
      unread = unread.subarray(end + 4);
      upgraded = true;
      resolve();
    });
    socket.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
  return socket;
}

const numberOf = (text: string, mark: string, frameBytes: number): number => {
  const space = text.indexOf(' ');
  // A frame whose bytes were overwritten by another socket's write shows the other's mark.
  return text.slice(space + 1) === mark.repeat(frameBytes) ? Number(text.slice(0, space)) : -1;
};

describe('WsTransport writes', () => {
  it('delivers every frame whole and in order to a socket that stops reading while others share the write buffer', async () => {
    const frameBytes = 32 * 1024;
    const url = await burstServer(frameBytes);
    // 300 bursts of 3 × 32 KB: far more than the kernel holds for the stalled socket, so its writes
    // are taken in part and left pending while the reader's go through.
    const bursts = 300;
    const stalledGot: number[] = [];
    let stalledDone = () => {};
    const stalled = await rawClient(url, (text) => {
      stalledGot.push(numberOf(text, '0', frameBytes));
      if (stalledGot.length === 3 * bursts) stalledDone();
    }); // connection 0
    stalled.pause();
    const reader = new WebSocket(url); // connection 1
    await new Promise((resolve) => reader.once('open', resolve));
    const readerGot = collect(reader, '1', frameBytes);

    for (let n = 0; n < bursts; n++) {
      // One burst at a time, so that each write gathers one burst's frames into the shared buffer.
      reader.send(`burst ${n}`);
      await readerGot.count(3 * (n + 1));
    }
    await readerGot.count(3 * bursts);
    const expected = Array.from({ length: 3 * bursts }, (_, i) => i);
    expect(readerGot.got).toEqual(expected);

    const everything = new Promise<void>((resolve) => (stalledDone = resolve));
    stalled.resume();
    await everything;
    expect(stalledGot).toEqual(expected);
    stalled.destroy();
    reader.close();
  }, 30_000);

  it('keeps each socket\'s frames whole and in order when bursts arrive while a fan-out is being written', async () => {
    // 300 sockets × 12 KB a burst: a pass over them takes several 2-ms slices, and the next burst is
    // sent as soon as the first socket has the previous one, so it arrives while that pass is going on.
    const frameBytes = 4 * 1024;
    const bursts = 20;
    const url = await burstServer(frameBytes);
    const clients = Array.from({ length: 300 }, () => new WebSocket(url));
    await Promise.all(clients.map((ws) => new Promise((resolve) => ws.once('open', resolve))));
    const got = clients.map(() => [] as number[]);
    // Connections are numbered in the order their upgrades completed: each socket's mark is the one
    // its first frame carried.
    const marks: string[] = [];
    let sent = 0;
    const all = clients.map(
      (ws, i) =>
        new Promise<void>((resolve) =>
          ws.on('message', (data) => {
            const text = String(data);
            const space = text.indexOf(' ');
            const mark = (marks[i] ??= text[space + 1]);
            got[i].push(text.slice(space + 1) === mark.repeat(frameBytes) ? Number(text.slice(0, space)) : -1);
            if (got[i].length === 3 * sent && sent < bursts) clients[0].send(`burst ${sent++}`);
            if (got[i].length === 3 * bursts) resolve();
          }),
        ),
    );
    clients[0].send(`burst ${sent++}`);
    await Promise.all(all);
    const expected = Array.from({ length: 3 * bursts }, (_, i) => i);
    for (const frames of got) expect(frames).toEqual(expected);
    for (const ws of clients) ws.close();
  }, 30_000);
});

/** One accepted socket as its session sees it: the wire, and the messages that reached it. */
interface Accepted {
  wire: Wire;
  received: Array<string | Buffer>;
}

/** A transport whose sessions do nothing but record what reaches them; the test plays the session. */
async function budgetServer(options: Partial<WsTransportOptions>): Promise<{ url: string; accepted: Accepted[] }> {
  const accepted: Accepted[] = [];
  transport = new WsTransport(
    { maxPayload: 1024, heartbeatMs: 60_000, maxBufferedBytes: 1024 * 1024, ...options },
    {
      open(wire) {
        const entry: Accepted = { wire, received: [] };
        accepted.push(entry);
        return { receive: (data) => entry.received.push(data), dispose() {} };
      },
    },
  );
  server = createServer();
  transport.attach(server);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, accepted };
}

/** A client socket, open, with the close code it gets (`code()` resolves once it closed). */
async function client(url: string): Promise<{ ws: WebSocket; code(): Promise<number>; got: string[] }> {
  const ws = new WebSocket(url);
  const got: string[] = [];
  ws.on('message', (data) => got.push(String(data)));
  const closed = new Promise<number>((resolve) => ws.once('close', resolve));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, code: () => closed, got };
}

/** Resolves once `check` holds (an observable state, not a timed sleep). */
const until = (check: () => boolean) => vi.waitFor(() => expect(check()).toBe(true), { timeout: 2_000, interval: 5 });

describe('WsTransport budgets', () => {
  it('a socket is pending until wire.authenticated(); past the pending budget the oldest pending one is closed with 1013', async () => {
    const admission = new Admission({ maxConnections: 10, maxPending: 2 });
    const { url, accepted } = await budgetServer({ admission });
    const a = await client(url);
    const b = await client(url);
    expect([admission.pending, admission.authenticated]).toEqual([2, 0]);
    accepted[0].wire.authenticated!('app');
    expect([admission.pending, admission.authenticated]).toEqual([1, 1]);
    await client(url);
    expect(admission.pending).toBe(2);
    await client(url); // takes b's place: b is the oldest still pending
    expect(await b.code()).toBe(1013);
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
    expect([admission.pending, admission.authenticated]).toEqual([2, 1]);
  });

  it('wire.authenticated() with every place taken closes with 1013, and what the session sends after it never arrives', async () => {
    const admission = new Admission({ maxConnections: 1, maxPending: 10 });
    const { url, accepted } = await budgetServer({ admission });
    const a = await client(url);
    accepted[0].wire.authenticated!('app');
    accepted[0].wire.sendText('connected a');
    const b = await client(url);
    accepted[1].wire.authenticated!('app');
    accepted[1].wire.sendText('connected b');
    expect(await b.code()).toBe(1013);
    expect(b.got).toEqual([]);
    await until(() => a.got.length === 1);
    expect(a.got).toEqual(['connected a']);
    expect([admission.pending, admission.authenticated]).toEqual([0, 1]);
    a.ws.close();
    await a.code();
    await until(() => admission.authenticated === 0);
  });

  it('a socket the server closes before it authenticated leaves the budget at once and is cut if it ignores the close', async () => {
    const admission = new Admission({ maxConnections: 10, maxPending: 10 });
    const { url, accepted } = await budgetServer({ admission });
    const deaf = await rawClient(url, () => {}); // answers no close frame
    const gone = new Promise((resolve) => deaf.once('close', resolve));
    await until(() => accepted.length === 1);
    accepted[0].wire.close(4002, 'protocol violation');
    expect(admission.pending).toBe(0);
    await gone;
  });

  it('binary messages up to four times maxPayload reach the session; larger ones close with 1009 unread, as do text frames past maxPayload', async () => {
    const { url, accepted } = await budgetServer({ admission: new Admission({ maxConnections: 10, maxPending: 10 }) });
    const bin = await client(url);
    accepted[0].wire.authenticated!('app');
    bin.ws.send(Buffer.alloc(4096, 1));
    await until(() => accepted[0].received.length === 1);
    bin.ws.send(Buffer.alloc(4097, 1));
    expect(await bin.code()).toBe(1009);
    expect(accepted[0].received).toHaveLength(1);

    const text = await client(url);
    accepted[1].wire.authenticated!('app');
    text.ws.send('x'.repeat(1025));
    expect(await text.code()).toBe(1009);
    expect(accepted[1].received).toHaveLength(0);
  });

  it('before wire.authenticated(), a message past maxPendingMessageBytes closes with 1009 unread; after it, the full bound applies', async () => {
    const { url, accepted } = await budgetServer({ admission: new Admission({ maxConnections: 10, maxPending: 10 }), maxPendingMessageBytes: 2048 });
    const early = await client(url);
    early.ws.send(Buffer.alloc(2049, 1));
    expect(await early.code()).toBe(1009);
    expect(accepted[0].received).toHaveLength(0);

    const later = await client(url);
    later.ws.send(Buffer.alloc(2048, 1));
    await until(() => accepted[1].received.length === 1);
    accepted[1].wire.authenticated!('app');
    later.ws.send(Buffer.alloc(4000, 1));
    await until(() => accepted[1].received.length === 2);
  });

  it('without an admission every socket counts against maxConnections once upgraded (embedding)', async () => {
    const { url, accepted } = await budgetServer({ maxConnections: 1 });
    const first = await client(url);
    const second = await client(url);
    expect(await second.code()).toBe(1013);
    expect(accepted).toHaveLength(1);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    expect(transport!.admission.authenticated).toBe(1);
  });
});
