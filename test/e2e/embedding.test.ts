import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { ChannelEvents, ChannelHub, HubSocketServer, createRealtime, sendWebResponse, toWebRequest, type Realtime } from '@hubbub/server';
import { until } from '../support/wait.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r(undefined)));
  });
  return (server.address() as AddressInfo).port;
}

/** A WebSocket client that records `{ event, data }` messages. */
async function wsClient(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  const messages: Array<{ event: string; data: any; id?: string }> = [];
  let closed: { code: number } | undefined;
  ws.on('message', (d) => messages.push(JSON.parse(String(d))));
  ws.on('close', (code) => (closed = { code }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  cleanups.push(() => ws.terminate());
  return {
    ws,
    messages,
    closed: () => closed,
    send: (event: string, data?: unknown) => ws.send(JSON.stringify({ event, data })),
    of: (event: string) => messages.filter((m) => m.event === event),
  };
}

/** Read an SSE response as parsed events, incrementally. */
async function sseClient(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  const events: Array<{ event: string; data: any; id?: string }> = [];
  const comments: string[] = [];
  cleanups.push(() => controller.abort());
  if (res.status === 200) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields: Record<string, string> = {};
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) comments.push(line.slice(1).trim());
              else {
                const i = line.indexOf(':');
                const key = line.slice(0, i);
                fields[key] = (fields[key] ? `${fields[key]}\n` : '') + line.slice(i + 1).trimStart();
              }
            }
            if (fields.event) events.push({ event: fields.event, data: JSON.parse(fields.data), id: fields.id });
          }
        }
      } catch {
        // aborted
      }
    })();
  }
  return { res, events, comments, abort: () => controller.abort() };
}

describe('HubSocketServer', () => {
  it('gives each socket an id, on/emit, and works with a ChannelHub', async () => {
    const hub = new ChannelHub();
    const server = createServer();
    const wss = new HubSocketServer({ authFn: (req) => new URL(req.url!, 'http://x').searchParams.get('user') });
    wss.attach(server, (socket) => {
      hub.bind(socket);
      const user = socket.auth as string;
      socket.on('join', (room) => {
        hub.join(room as string, user, socket);
        socket.emit('joined', { room, id: socket.id, members: hub.presence(room as string) });
      });
      socket.on('say', (text) => hub.publish('lobby', 'said', { user, text }, { exceptConnId: socket.id }));
    });
    cleanups.push(() => wss.close());
    const port = await listen(server);

    const alice = await wsClient(`ws://127.0.0.1:${port}/?user=alice`);
    const bob = await wsClient(`ws://127.0.0.1:${port}/?user=bob`);
    alice.send('join', 'lobby');
    await until(() => alice.of('joined').length === 1, 'alice joined');
    bob.send('join', 'lobby');
    await until(() => alice.of(ChannelEvents.PresenceJoin).length === 1 && bob.of('joined').length === 1, 'bob joined');
    expect(alice.of(ChannelEvents.PresenceJoin)[0].data).toEqual({ channel: 'lobby', memberId: 'bob' });
    expect(bob.of('joined')[0].data.members.sort()).toEqual(['alice', 'bob']);
    expect(bob.of('joined')[0].data.id).toMatch(/^[\w-]+$/);

    bob.send('say', 'hello');
    await until(() => alice.of('said').length === 1, 'alice hears bob');
    expect(alice.of('said')[0].data).toEqual({ user: 'bob', text: 'hello' });
    expect(bob.of('said')).toHaveLength(0);

    bob.ws.close();
    await until(() => alice.of(ChannelEvents.PresenceLeave).length === 1, 'bob leaves on close');
    expect(hub.presence('lobby')).toEqual(['alice']);
  });

  it('rejects the upgrade with 401 when authFn says no', async () => {
    const server = createServer();
    const wss = new HubSocketServer({ authFn: () => false });
    wss.attach(server, () => {});
    cleanups.push(() => wss.close());
    const port = await listen(server);
    await expect(wsClient(`ws://127.0.0.1:${port}/`)).rejects.toThrow('HTTP 401');
  });

  it('reaps a socket that stops answering pings', async () => {
    const server = createServer();
    const wss = new HubSocketServer({ heartbeatMs: 200 });
    const closed: string[] = [];
    wss.attach(server, (socket) => socket.onClose(() => closed.push(socket.id)));
    cleanups.push(() => wss.close());
    const port = await listen(server);
    const c = await wsClient(`ws://127.0.0.1:${port}/`);
    // Stop answering pings: ws answers automatically unless its socket stops reading.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await until(() => closed.length === 1, 'the server drops it', 3000);
  });
});

describe('createRealtime with the SSE driver', () => {
  function sseServer(realtime: Realtime) {
    return createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const { response } = realtime.sse(toWebRequest(req, res), {
        userId: url.searchParams.get('user') ?? undefined,
        channels: url.searchParams.getAll('channel'),
      });
      void sendWebResponse(response, res);
    });
  }

  it('streams broadcasts, user messages and channel messages, with heartbeats', async () => {
    const realtime = createRealtime({ driver: 'sse', heartbeat: 100 });
    cleanups.push(() => realtime.close());
    const port = await listen(sseServer(realtime));
    const alice = await sseClient(`http://127.0.0.1:${port}/?user=alice&channel=room-1`);
    const bob = await sseClient(`http://127.0.0.1:${port}/?user=bob`);
    expect(alice.res.headers.get('content-type')).toContain('text/event-stream');
    await until(() => realtime.connectionCount === 2, 'two streams');

    await realtime.broadcast({ event: 'news', data: { n: 1 } });
    await realtime.sendTo('alice', { event: 'dm', data: 'just you' });
    await realtime.toChannel('room-1').broadcast({ event: 'room', data: 'in room-1' });
    await until(() => alice.events.length === 3 && bob.events.length === 1, 'deliveries');
    expect(alice.events.map((e) => [e.event, e.data])).toEqual([
      ['news', { n: 1 }],
      ['dm', 'just you'],
      ['room', 'in room-1'],
    ]);
    expect(bob.events.map((e) => e.event)).toEqual(['news']);
    await until(() => alice.comments.includes('heartbeat'), 'a heartbeat comment');
  });

  it('replays what was missed after Last-Event-ID, and closes when the request aborts', async () => {
    const realtime = createRealtime({ driver: 'sse' });
    cleanups.push(() => realtime.close());
    const port = await listen(sseServer(realtime));
    const first = await sseClient(`http://127.0.0.1:${port}/?user=carol&channel=feed`);
    await until(() => realtime.connectionCount === 1, 'stream open');
    await realtime.toChannel('feed').broadcast({ event: 'item', data: 1 });
    await until(() => first.events.length === 1, 'first item');
    const lastId = first.events[0].id!;
    first.abort();
    await until(() => realtime.connectionCount === 0, 'stream closed on abort');

    await realtime.toChannel('feed').broadcast({ event: 'item', data: 2 });
    await realtime.toChannel('other').broadcast({ event: 'item', data: 'not for carol' });
    await realtime.sendTo('carol', { event: 'dm', data: 3 });
    const again = await sseClient(`http://127.0.0.1:${port}/?user=carol&channel=feed`, { 'last-event-id': lastId });
    await until(() => again.events.length === 2, 'the missed events');
    expect(again.events.map((e) => e.data)).toEqual([2, 3]);

    const bogus = await sseClient(`http://127.0.0.1:${port}/?user=dan&channel=feed`, { 'last-event-id': 'not-a-number' });
    expect(bogus.res.status).toBe(200);
  });

  it('answers 503 past maxConnections and leaves existing streams alone', async () => {
    const realtime = createRealtime({ driver: 'sse', maxConnections: 1 });
    cleanups.push(() => realtime.close());
    const port = await listen(sseServer(realtime));
    const first = await sseClient(`http://127.0.0.1:${port}/?user=a`);
    const second = await sseClient(`http://127.0.0.1:${port}/?user=b`);
    expect(second.res.status).toBe(503);
    await realtime.broadcast({ event: 'still', data: true });
    await until(() => first.events.length === 1, 'first still served');
  });
});

describe('createRealtime with the WebSocket driver', () => {
  function wsServer(realtime: Realtime, seen: unknown[]) {
    const server = createServer();
    server.on('upgrade', (req, socket, head) => {
      const user = new URL(req.url!, 'http://x').searchParams.get('user') ?? undefined;
      realtime.upgrade(
        req,
        {
          userId: user,
          onOpen: (s) => s.join('lobby'),
          onMessage: (s, message) => {
            seen.push(message);
            if (typeof message !== 'string' && message.event === 'shout') {
              void realtime.toChannel('lobby').broadcast({ event: 'shout', data: { from: s.userId, text: message.data } });
            }
          },
          onClose: (s) => seen.push(`closed ${s.userId}`),
        },
        socket,
        head,
      );
    });
    return server;
  }

  it('upgrades, hands messages to onMessage, broadcasts to channels and users', async () => {
    const realtime = createRealtime({ driver: 'websocket' });
    const joins: string[] = [];
    realtime.channel('lobby', { onJoin: (_s, user) => joins.push(user!) });
    cleanups.push(() => realtime.close());
    const seen: unknown[] = [];
    const port = await listen(wsServer(realtime, seen));
    const a = await wsClient(`ws://127.0.0.1:${port}/?user=ann`);
    const b = await wsClient(`ws://127.0.0.1:${port}/?user=ben`);
    const a2 = await wsClient(`ws://127.0.0.1:${port}/?user=ann`);
    await until(() => joins.length === 3, 'three joins');
    expect(realtime.toChannel('lobby').members().sort()).toEqual(['ann', 'ben']);

    b.send('shout', 'hi all');
    await until(() => a.of('shout').length === 1 && a2.of('shout').length === 1 && b.of('shout').length === 1, 'shout everywhere');
    expect(a.of('shout')[0].data).toEqual({ from: 'ben', text: 'hi all' });
    expect(seen[0]).toEqual({ event: 'shout', data: 'hi all' });

    await realtime.sendTo('ann', { event: 'dm', data: 'both of your tabs' });
    await until(() => a.of('dm').length === 1 && a2.of('dm').length === 1, 'dm to both connections');
    expect(b.of('dm')).toHaveLength(0);

    b.ws.close();
    await until(() => seen.includes('closed ben'), 'onClose');
  });

  it('closes new sockets with 1013 past maxConnections and leaves existing ones alone', async () => {
    const realtime = createRealtime({ driver: 'websocket', maxConnections: 1 });
    cleanups.push(() => realtime.close());
    const port = await listen(wsServer(realtime, []));
    const first = await wsClient(`ws://127.0.0.1:${port}/?user=a`);
    const second = await wsClient(`ws://127.0.0.1:${port}/?user=b`);
    await until(() => second.closed() !== undefined, 'second closed');
    expect(second.closed()!.code).toBe(1013);
    await realtime.broadcast({ event: 'still', data: 1 });
    await until(() => first.of('still').length === 1, 'first still served');
  });
});
