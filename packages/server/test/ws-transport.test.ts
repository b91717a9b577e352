import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Wire } from '../src/core/session.js';
import { WsTransport } from '../src/transport/ws.js';

const FRAME_BYTES = 32 * 1024;
let server: Server | undefined;
let transport: WsTransport | undefined;
afterEach(async () => {
  await transport?.close();
  await new Promise((resolve) => server?.close(resolve));
  server = transport = undefined;
});

/**
 * A transport whose every connection, on "burst N", is sent three frames of 32 KB numbered 3N..3N+2
 * and marked with the connection's own number, so no two sockets are sent the same bytes.
 */
async function burstServer(): Promise<string> {
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
              for (let k = 0; k < 3; k++) w.send(`${3 * n + k} ${String(i).repeat(FRAME_BYTES)}`);
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
function collect(ws: WebSocket, mark: string): { got: number[]; count(n: number): Promise<void> } {
  const got: number[] = [];
  let wanted = Infinity;
  let reached = () => {};
  ws.on('message', (data) => {
    got.push(numberOf(String(data), mark));
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

const numberOf = (text: string, mark: string): number => {
  const space = text.indexOf(' ');
  // A frame whose bytes were overwritten by another socket's write shows the other's mark.
  return text.slice(space + 1) === mark.repeat(FRAME_BYTES) ? Number(text.slice(0, space)) : -1;
};

describe('WsTransport writes', () => {
  it('delivers every frame whole and in order to a socket that stops reading while others share the write buffer', async () => {
    const url = await burstServer();
    // 300 bursts of 3 × 32 KB: far more than the kernel holds for the stalled socket, so its writes
    // are taken in part and left pending while the reader's go through.
    const bursts = 300;
    const stalledGot: number[] = [];
    let stalledDone = () => {};
    const stalled = await rawClient(url, (text) => {
      stalledGot.push(numberOf(text, '0'));
      if (stalledGot.length === 3 * bursts) stalledDone();
    }); // connection 0
    stalled.pause();
    const reader = new WebSocket(url); // connection 1
    await new Promise((resolve) => reader.once('open', resolve));
    const readerGot = collect(reader, '1');

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

  it('keeps each socket\'s frames in order when a fan-out takes several slices and more arrives meanwhile', async () => {
    const url = await burstServer();
    const clients = Array.from({ length: 300 }, () => new WebSocket(url));
    await Promise.all(clients.map((ws) => new Promise((resolve) => ws.once('open', resolve))));
    const got = clients.map(() => [] as number[]);
    const all = clients.map(
      (ws, i) =>
        new Promise<void>((resolve) =>
          ws.on('message', (data) => {
            const text = String(data);
            got[i].push(Number(text.slice(0, text.indexOf(' '))));
            if (got[i].length === 3 * 10) resolve();
          }),
        ),
    );
    // Ten bursts without waiting: each is 300 writes of 96 KB, several slices' worth, so later
    // bursts arrive while earlier ones are still being written.
    for (let n = 0; n < 10; n++) clients[0].send(`burst ${n}`);
    await Promise.all(all);
    const expected = Array.from({ length: 30 }, (_, i) => i);
    for (const frames of got) expect(frames).toEqual(expected);
    for (const ws of clients) ws.close();
  }, 30_000);
});
