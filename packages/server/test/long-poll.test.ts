import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FrameError,
  decodeClientRecords,
  decodeServerRecords,
  encodeClientFrame,
  encodeServerFrame,
  type ClientFrame,
  type ServerFrame,
} from '@hubbub/protocol';
import type { Wire } from '../src/core/wire.js';
import { LongPollTransport, type LongPollOptions } from '../src/compat/foony/long-poll.js';
import { Admission } from '../src/transport/admission.js';

const HEADER = 'foony-lp-session';

/**
 * A stand-in for Session: answers `auth` (after an await, like the real one), `ping` and `pub` with
 * records. Like Session, it calls `wire.authenticated()` right before `connected` when the auth succeeds.
 */
class FakePeer {
  disposed = false;
  readonly received: ClientFrame[] = [];
  private onDispose!: () => void;
  readonly whenDisposed = new Promise<void>((resolve) => (this.onDispose = resolve));

  constructor(readonly wire: Wire) {}

  receive(data: string | Buffer): void {
    if (typeof data === 'string') throw new Error('long-poll must hand the session binary bodies');
    for (const frame of decodeClientRecords(data)) {
      if (frame instanceof FrameError) throw frame;
      this.received.push(frame);
      if (frame.t === 'auth') {
        if (frame.token === 'hang') continue;
        setTimeout(() => {
          const good = frame.token === 'good' || frame.token === 'chatty';
          if (good) this.wire.authenticated?.('app');
          const reply: ServerFrame = good
            ? { t: 'connected', connectionId: 'c-1', keepAliveMs: 15_000, clientId: 'alice' }
            : { t: 'err', code: 40101, message: 'bad token' };
          this.send(reply);
          if (frame.token === 'chatty') this.send({ t: 'pong' });
        }, 5);
      } else if (frame.t === 'ping') this.send({ t: 'pong' });
      else if (frame.t === 'pub') this.send({ t: 'ack', id: frame.id });
    }
  }

  send(frame: ServerFrame): void {
    this.wire.sendBinary(encodeServerFrame(frame));
  }

  dispose(): void {
    this.disposed = true;
    this.onDispose();
  }
}

let server: Server | undefined;
let lp: LongPollTransport | undefined;
let peers: FakePeer[] = [];
let base = '';

async function start(options: Partial<LongPollOptions> = {}): Promise<LongPollTransport> {
  peers = [];
  const transport = new LongPollTransport(
    { prefixes: ['', '/ws'], maxBodyBytes: 64 * 1024, maxConnectBodyBytes: 1024, pollHoldMs: 5_000, sessionIdleMs: 5_000, maxQueuedBytes: 64 * 1024, ...options },
    {
      open: (wire) => {
        const peer = new FakePeer(wire);
        peers.push(peer);
        return peer;
      },
    },
  );
  server = createServer((req, res) => {
    if (!transport.handle(req, res)) res.writeHead(404).end('not lp');
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  lp = transport;
  return transport;
}

afterEach(async () => {
  lp?.close();
  lp = undefined;
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
  }
});

interface Reply {
  status: number;
  session: string | null;
  frames: ServerFrame[];
  bytes: number;
  headers: Headers;
}

async function post(path: string, opts: { session?: string; body?: Uint8Array<ArrayBuffer>; origin?: string; signal?: AbortSignal } = {}): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (opts.session) headers[HEADER] = opts.session;
  if (opts.origin) headers.origin = opts.origin;
  const res = await fetch(base + path, { method: 'POST', headers, body: opts.body, signal: opts.signal });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, session: res.headers.get(HEADER), frames: decodeServerRecords(bytes), bytes: bytes.length, headers: res.headers };
}

const records = (...frames: ClientFrame[]) => new Uint8Array(Buffer.concat(frames.map((f) => encodeClientFrame(f))));

async function connect(token = 'good', prefix = ''): Promise<string> {
  const r = await post(`${prefix}/lp/connect`, { body: records({ t: 'auth', token }) });
  expect(r.status).toBe(200);
  expect(r.session).toBeTruthy();
  return r.session!;
}

/** Wait until the transport holds `n` polls (an observable state, not a timed sleep). */
const heldPolls = (n: number) => vi.waitFor(() => expect(lp!.heldPolls).toBe(n), { timeout: 2_000, interval: 5 });

describe('LongPollTransport', () => {
  it('connect: 200, the connected record in the body, an unguessable session header', async () => {
    await start();
    const r = await post('/lp/connect', { body: records({ t: 'auth', token: 'good' }) });
    expect(r.status).toBe(200);
    expect(r.frames).toEqual([{ t: 'connected', connectionId: 'c-1', keepAliveMs: 15_000, clientId: 'alice' }]);
    expect(r.session).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(lp!.sessionCount).toBe(1);
    expect(peers[0].received).toEqual([{ t: 'auth', token: 'good' }]);
    // A second connect is a second session with its own token.
    expect(await connect()).not.toBe(r.session);
  });

  it('connect: records queued with `connected` in the same turn go out in the same body', async () => {
    await start();
    const r = await post('/lp/connect', { body: records({ t: 'auth', token: 'chatty' }) });
    expect(r.frames.map((f) => f.t)).toEqual(['connected', 'pong']);
    expect(r.session).toBeTruthy();
  });

  it('is served under every prefix and leaves other paths to the caller', async () => {
    await start();
    expect(await connect('good', '/ws')).toBeTruthy();
    const other = await fetch(`${base}/api/lp/connect`, { method: 'POST', body: 'x' });
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('not lp');
    expect((await post('/lp/nope')).status).toBe(404);
    expect((await fetch(`${base}/lp/poll`)).status).toBe(405);
  });

  it('a refused handshake is 200 with the err record and no session header; the session is gone', async () => {
    await start();
    const r = await post('/lp/connect', { body: records({ t: 'auth', token: 'bad' }) });
    expect(r.status).toBe(200);
    expect(r.session).toBeNull();
    expect(r.frames).toEqual([{ t: 'err', code: 40101, message: 'bad token' }]);
    await peers[0].whenDisposed;
    expect(lp!.sessionCount).toBe(0);
  });

  it('an empty connect body is not a handshake: 400', async () => {
    await start();
    expect((await post('/lp/connect')).status).toBe(400);
    expect(peers).toHaveLength(0);
  });

  it('send: replies go to the held poll at once, several records in one body', async () => {
    await start();
    const session = await connect();
    const poll = post('/lp/poll', { session });
    await heldPolls(1);
    const t0 = Date.now();
    const sent = await post('/lp/send', { session, body: records({ t: 'ping' }, { t: 'pub', id: 7, channel: 'c', name: 'n', data: 1, messageId: 'm1' }) });
    expect(sent.status).toBe(204);
    const r = await poll;
    expect(Date.now() - t0).toBeLessThan(1_000); // the hold is 5 s
    expect(r.status).toBe(200);
    // Both replies were queued in the same turn: one body.
    expect(r.frames).toEqual([{ t: 'pong' }, { t: 'ack', id: 7 }]);
    expect(lp!.counters.framesIn).toBe(2); // connect + one send
  });

  it('records queued while no poll is open wait for the next poll', async () => {
    await start();
    const session = await connect();
    await post('/lp/send', { session, body: records({ t: 'ping' }) });
    const r = await post('/lp/poll', { session });
    expect(r.frames).toEqual([{ t: 'pong' }]);
  });

  it('a poll with nothing to send is answered empty after the hold', async () => {
    await start({ pollHoldMs: 100 });
    const session = await connect();
    const t0 = Date.now();
    const r = await post('/lp/poll', { session });
    expect(r.status).toBe(200);
    expect(r.bytes).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(lp!.sessionCount).toBe(1);
  });

  it('a second poll answers the first one empty and is the one released later', async () => {
    await start();
    const session = await connect();
    const first = post('/lp/poll', { session });
    await heldPolls(1);
    const second = post('/lp/poll', { session });
    const r1 = await first;
    expect(r1.status).toBe(200);
    expect(r1.bytes).toBe(0);
    await heldPolls(1);
    peers[0].send({ t: 'pong' });
    expect((await second).frames).toEqual([{ t: 'pong' }]);
  });

  it('unknown or missing session: 410 on poll, send and disconnect', async () => {
    await start();
    await connect();
    const forged = 'A'.repeat(43);
    expect((await post('/lp/poll', { session: forged })).status).toBe(410);
    expect((await post('/lp/send', { session: forged, body: records({ t: 'ping' }) })).status).toBe(410);
    expect((await post('/lp/disconnect', { session: forged })).status).toBe(410);
    expect((await post('/lp/poll')).status).toBe(410);
    expect(peers[0].received).toEqual([{ t: 'auth', token: 'good' }]);
  });

  it('a session with no poll for the idle time is expired and its peer disposed', async () => {
    await start({ sessionIdleMs: 150 });
    const session = await connect();
    await peers[0].whenDisposed;
    expect(lp!.sessionCount).toBe(0);
    expect(lp!.counters.sessionsExpired).toBe(1);
    expect((await post('/lp/poll', { session })).status).toBe(410);
  });

  it('a held poll keeps the session alive past the idle time', async () => {
    await start({ sessionIdleMs: 100, pollHoldMs: 300 });
    const session = await connect();
    const r = await post('/lp/poll', { session });
    expect(r.status).toBe(200);
    expect(peers[0].disposed).toBe(false);
    expect(lp!.sessionCount).toBe(1);
  });

  it('a held poll the client drops starts the idle clock', async () => {
    await start({ sessionIdleMs: 150 });
    const session = await connect();
    const abort = new AbortController();
    const poll = post('/lp/poll', { session, signal: abort.signal }).catch((err: Error) => err);
    await heldPolls(1);
    abort.abort();
    await poll;
    await heldPolls(0);
    await peers[0].whenDisposed;
    expect(lp!.counters.sessionsExpired).toBe(1);
  });

  it('disconnect ends the session at once and disposes the peer', async () => {
    await start();
    const session = await connect();
    expect((await post('/lp/disconnect', { session })).status).toBe(204);
    expect(peers[0].disposed).toBe(true);
    expect((await post('/lp/poll', { session })).status).toBe(410);
  });

  it('server-side close: the held poll gets what was queued, later polls 410', async () => {
    await start();
    const session = await connect();
    const poll = post('/lp/poll', { session });
    await heldPolls(1);
    peers[0].send({ t: 'err', code: 40102, message: 'token expired' });
    peers[0].wire.close(4102, 'token expired');
    const r = await poll;
    expect(r.status).toBe(200);
    expect(r.frames).toEqual([{ t: 'err', code: 40102, message: 'token expired' }]);
    expect(peers[0].disposed).toBe(true);
    expect((await post('/lp/poll', { session })).status).toBe(410);
    expect((await post('/lp/send', { session, body: records({ t: 'ping' }) })).status).toBe(410);
  });

  it('server-side close with no poll open: the next poll still gets the queue, then 410', async () => {
    await start();
    const session = await connect();
    peers[0].send({ t: 'pong' });
    peers[0].wire.close(1012, 'server restarting');
    expect((await post('/lp/poll', { session })).frames).toEqual([{ t: 'pong' }]);
    expect((await post('/lp/poll', { session })).status).toBe(410);
    expect(peers[0].disposed).toBe(true);
  });

  it('server-side close with nothing queued ends the session at once', async () => {
    await start();
    const session = await connect();
    peers[0].wire.close(1012, 'server restarting');
    expect(peers[0].disposed).toBe(true);
    expect(lp!.sessionCount).toBe(0);
    expect((await post('/lp/poll', { session })).status).toBe(410);
  });

  it('transport close(): held polls are answered, later requests 410, new connects refused in-band', async () => {
    await start();
    const session = await connect();
    const poll = post('/lp/poll', { session });
    await heldPolls(1);
    lp!.close();
    expect((await poll).status).toBe(200);
    expect(peers[0].disposed).toBe(true);
    expect((await post('/lp/poll', { session })).status).toBe(410);
    const refused = await post('/lp/connect', { body: records({ t: 'auth', token: 'good' }) });
    expect(refused.status).toBe(200);
    expect(refused.session).toBeNull();
    expect(refused.frames).toEqual([{ t: 'err', code: 50300, message: 'server shutting down' }]);
  });

  it('queue overflow ends the session: the peer is disposed, polls 410', async () => {
    await start({ maxQueuedBytes: 64 });
    const session = await connect();
    for (let i = 0; i < 20; i++) peers[0].send({ t: 'err', code: 50000, message: 'filler filler' });
    expect(lp!.counters.slowConsumersCut).toBe(1);
    expect(lp!.sessionCount).toBe(0);
    await peers[0].whenDisposed;
    expect((await post('/lp/poll', { session })).status).toBe(410);
  });

  it('a body over the limit is refused with 413', async () => {
    await start({ maxBodyBytes: 32 });
    const session = await connect();
    const big = records({ t: 'pub', id: 1, channel: 'c', name: 'n', data: 'x'.repeat(100), messageId: 'm' });
    expect((await post('/lp/send', { session, body: big })).status).toBe(413);
    expect(peers[0].received).toHaveLength(1);
  });

  it('CORS: preflight answered, the session header exposed on connect', async () => {
    await start();
    const pre = await fetch(`${base}/ws/lp/connect`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': `content-type, ${HEADER}` },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toBe('POST');
    expect(pre.headers.get('access-control-allow-headers')).toBe(`content-type, ${HEADER}`);
    const r = await post('/ws/lp/connect', { origin: 'https://app.example', body: records({ t: 'auth', token: 'good' }) });
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-expose-headers')).toBe(HEADER);
    expect(r.session).toBeTruthy();
  });

  it('CORS with an allow-list: the origin is echoed; other origins get 403', async () => {
    await start({ allowedOrigins: ['https://app.example'] });
    const ok = await fetch(`${base}/lp/poll`, { method: 'OPTIONS', headers: { origin: 'https://app.example' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('vary')).toBe('Origin');
    const bad = await fetch(`${base}/lp/poll`, { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(bad.status).toBe(403);
    expect(bad.headers.get('access-control-allow-origin')).toBeNull();
    expect((await post('/lp/connect', { origin: 'https://evil.example', body: records({ t: 'auth', token: 'good' }) })).status).toBe(403);
    expect(peers).toHaveLength(0);
  });

  it('a connect body over maxConnectBodyBytes is refused with 413 before a session is made', async () => {
    await start();
    const junk = new Uint8Array(1025).fill(0x20);
    const r = await post('/lp/connect', { body: junk });
    expect(r.status).toBe(413);
    expect(peers).toHaveLength(0);
    // The connect bound is the auth record's; send bodies keep theirs.
    const session = await connect();
    const big = records({ t: 'pub', id: 1, channel: 'c', name: 'n', data: 'x'.repeat(2000), messageId: 'm' });
    expect((await post('/lp/send', { session, body: big })).status).toBe(204);
  });

  it('a session is pending in the shared budget until its auth succeeds; past maxConnections the connect gets err 50300', async () => {
    const admission = new Admission({ maxConnections: 1, maxPending: 10 });
    await start({ admission });
    const pending = post('/lp/connect', { body: records({ t: 'auth', token: 'hang' }) }).catch((err: Error) => err);
    await vi.waitFor(() => expect(admission.pending).toBe(1), { timeout: 2_000, interval: 5 });
    const session = await connect();
    expect([admission.pending, admission.authenticated]).toEqual([1, 1]);
    const refused = await post('/lp/connect', { body: records({ t: 'auth', token: 'good' }) });
    expect(refused.status).toBe(200);
    expect(refused.session).toBeNull();
    expect(refused.frames).toEqual([{ t: 'err', code: 50300, message: 'too many connections' }]);
    await peers[2].whenDisposed;
    expect([admission.pending, admission.authenticated]).toEqual([1, 1]);
    // Leaving frees the place for the next one.
    expect((await post('/lp/disconnect', { session })).status).toBe(204);
    expect(admission.authenticated).toBe(0);
    expect(await connect()).toBeTruthy();
    lp!.close();
    await pending;
    expect([admission.pending, admission.authenticated]).toEqual([0, 0]);
  });

  it('past the pending budget, the oldest connect still waiting for its auth is refused in-band', async () => {
    const admission = new Admission({ maxConnections: 10, maxPending: 1 });
    await start({ admission });
    const oldest = post('/lp/connect', { body: records({ t: 'auth', token: 'hang' }) });
    await vi.waitFor(() => expect(admission.pending).toBe(1), { timeout: 2_000, interval: 5 });
    expect(await connect()).toBeTruthy();
    const evicted = await oldest;
    expect(evicted.session).toBeNull();
    expect(evicted.frames).toMatchObject([{ t: 'err', code: 50300 }]);
    expect(peers[0].disposed).toBe(true);
    expect([admission.pending, admission.authenticated]).toEqual([0, 1]);
  });

  it('a connect abandoned before the handshake answer disposes its session', async () => {
    await start();
    const abort = new AbortController();
    // `hang` is never answered by the fake peer: the connect stays open until the client gives up.
    const pending = post('/lp/connect', { body: records({ t: 'auth', token: 'hang' }), signal: abort.signal }).catch((err: Error) => err);
    await vi.waitFor(() => expect(lp!.sessionCount).toBe(1), { timeout: 2_000, interval: 5 });
    abort.abort();
    expect(await pending).toBeInstanceOf(Error);
    await peers[0].whenDisposed;
    expect(lp!.sessionCount).toBe(0);
  });
});
