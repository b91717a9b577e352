/**
 * Connection budgets and payload bounds, end to end. Before it authenticates a connection may send
 * one auth frame of bounded size: junk closes it at the first frame, and what it costs the server
 * (a bystander's ping round trip, the server's resident memory) stays small. Unauthenticated sockets
 * have a budget of their own (--max-pending-connections) and cannot keep real clients out of
 * --max-connections, which WebSockets and long-poll sessions share.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { decodeServerRecords, encodeClientFrame, type ClientFrame, type ServerFrame } from '@hubbub/protocol';
import type { Realtime } from '@hubbub/client';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { authedRaw, bystander, sign, type Bystander } from './support.js';

const APP = 'hostile';
const MAX_PING_MS = 200;
const MAX_RSS_GROWTH_MIB = 50;
/** hubbub serve's default --max-payload, and the transport bound: four times it. */
const MAX_PAYLOAD = 64 * 1024;
const TRANSPORT_BOUND = 4 * MAX_PAYLOAD;

let main: RunningServer;
let budget: RunningServer;
let shared: RunningServer;
let watch: Bystander;
const sockets: WebSocket[] = [];
const raws: RawClient[] = [];

beforeAll(async () => {
  [main, budget, shared] = await Promise.all([
    startServer(),
    startServer(['--max-connections', '20', '--max-pending-connections', '10']),
    startServer(['--max-connections', '3']),
  ]);
  watch = await bystander(main, APP);
});
afterAll(async () => {
  for (const ws of sockets) ws.terminate();
  for (const r of raws) r.close();
  closeClients();
  await Promise.all([main, budget, shared].map((s) => cleanup(s)));
});

/** `count` junk records (a length prefix, then an opcode no codec knows) in one buffer. */
function junkRecords(count: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(count * 4);
  for (let at = 0; at < out.length; at += 4) out.set([3, 0xee, 0x01, 0x02], at);
  return out;
}

/** The server's resident memory in bytes (Linux /proc). */
function rssOf(server: RunningServer): number {
  const status = readFileSync(`/proc/${server.proc.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/**
 * While `attack` runs: a bystander pings the server back to back, and its resident memory is sampled.
 * The slowest round trip, and the largest growth over the memory before the attack (in MiB).
 */
async function cost(server: RunningServer, attack: () => Promise<unknown>): Promise<{ pingMs: number; rssMiB: number }> {
  const pinger = await authedRaw(server, APP, 'pinger');
  raws.push(pinger);
  const before = rssOf(server);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(server))), 5);
  let finished = false;
  const done = attack().finally(() => (finished = true));
  let worst = 0;
  for (let id = 1; !finished; id++) {
    const sent = performance.now();
    pinger.send({ t: 'ping', id });
    await pinger.waitFor((f) => f.t === 'pong' && f.id === id, 60_000);
    worst = Math.max(worst, performance.now() - sent);
    pinger.frames.length = 0;
  }
  await done;
  // One more round trip after the attack: what it left behind on the event loop counts too.
  const sent = performance.now();
  pinger.send({ t: 'ping', id: 0 });
  await pinger.waitFor((f) => f.t === 'pong' && f.id === 0, 60_000);
  worst = Math.max(worst, performance.now() - sent);
  clearInterval(sampler);
  peak = Math.max(peak, rssOf(server));
  return { pingMs: worst, rssMiB: (peak - before) / (1024 * 1024) };
}

/** A bare socket: what it received (binary records decoded, text parsed) and how it closed. */
interface Raw {
  ws: WebSocket;
  frames: ServerFrame[];
  /** Resolves with the close code, or undefined if the socket is still open after `ms`. */
  closedWithin(ms: number): Promise<number | undefined>;
}

async function open(url: string): Promise<Raw> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  const frames: ServerFrame[] = [];
  let code: number | undefined;
  const closed = new Promise<number>((resolve) => ws.once('close', (c) => resolve((code = c))));
  ws.on('message', (data, isBinary) => {
    if (isBinary) frames.push(...decodeServerRecords(data as Buffer));
    else frames.push(JSON.parse(String(data)) as ServerFrame);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    closedWithin: (ms) => {
      if (code !== undefined) return Promise.resolve(code);
      let timer!: NodeJS.Timeout;
      const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
      return Promise.race([closed, late]).finally(() => clearTimeout(timer));
    },
  };
}

/** A socket speaking binary records, authenticated with a binary auth record. */
async function binaryClient(url: string, clientId: string): Promise<Raw> {
  const raw = await open(url);
  raw.ws.send(encodeClientFrame({ t: 'auth', token: await sign(APP, clientId) }), { binary: true });
  await until(() => raw.frames.some((f) => f.t === 'connected'), 'the binary client to connect', 5000);
  return raw;
}

const record = (frame: ClientFrame) => encodeClientFrame(frame);

describe('before authentication', () => {
  it('a 1 MiB binary message of junk records is refused at the transport (1009) without stalling the server or pinning memory', async () => {
    const attacker = await open(main.url);
    let code: number | undefined;
    const spent = await cost(main, async () => {
      attacker.ws.send(junkRecords(256 * 1024), { binary: true });
      code = await attacker.closedWithin(5000);
    });
    expect(code, 'the attacker was closed').toBe(1009);
    expect(attacker.frames.length, 'no error per record').toBeLessThanOrEqual(1);
    expect(spent.pingMs, 'bystander ping round trip').toBeLessThan(MAX_PING_MS);
    expect(spent.rssMiB, 'server memory growth (MiB)').toBeLessThan(MAX_RSS_GROWTH_MIB);
    await watch.check('1 MiB of junk records before auth');
  });

  it('a message of junk records under the auth-frame limit closes the connection at its first record (4002), with one err', async () => {
    const attacker = await open(main.url);
    attacker.ws.send(junkRecords(4096), { binary: true }); // 16 KiB
    expect(await attacker.closedWithin(5000)).toBe(4002);
    expect(attacker.frames.map((f) => [f.t, (f as { code?: number }).code])).toEqual([['err', 40001]]);
  });

  it('a stream of tiny junk frames closes the connection at the first one; the rest cost nothing', async () => {
    const binary = await open(main.url);
    const text = await open(main.url);
    const codes: Array<number | undefined> = [];
    const spent = await cost(main, async () => {
      for (let i = 0; i < 20_000; i++) {
        binary.ws.send(junkRecords(1), { binary: true });
        text.ws.send('x');
      }
      codes.push(await binary.closedWithin(5000), await text.closedWithin(5000));
    });
    expect(codes, 'both attackers were closed').toEqual([4002, 4002]);
    expect(binary.frames, 'one err to the binary attacker').toHaveLength(1);
    expect(text.frames, 'one err to the text attacker').toHaveLength(1);
    expect(spent.pingMs, 'bystander ping round trip').toBeLessThan(MAX_PING_MS);
    expect(spent.rssMiB, 'server memory growth (MiB)').toBeLessThan(MAX_RSS_GROWTH_MIB);
    await watch.check('tiny junk frames before auth');
  });

  it('1 MiB of junk records on POST /lp/connect is refused (413) before it is read, without stalling the server', async () => {
    let status = 0;
    let answeredMs = 0;
    const spent = await cost(main, async () => {
      const started = performance.now();
      const res = await fetch(`${main.http}/lp/connect`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: junkRecords(256 * 1024),
      }).catch(() => undefined);
      status = res?.status ?? 0;
      answeredMs = performance.now() - started;
      await res?.arrayBuffer().catch(() => undefined);
    });
    expect(status, 'the connect was refused for its size').toBe(413);
    expect(answeredMs, 'time to the refusal (ms)').toBeLessThan(1000);
    expect(spent.pingMs, 'bystander ping round trip').toBeLessThan(MAX_PING_MS);
    expect(spent.rssMiB, 'server memory growth (MiB)').toBeLessThan(MAX_RSS_GROWTH_MIB);
    await watch.check('1 MiB on /lp/connect');
  });
});

describe('payload bounds', () => {
  it('a binary publish between --max-payload and four times it gets 41300 and the connection stays; past that it closes with 1009', async () => {
    const pub = await binaryClient(main.url, 'big-publisher');
    const from = pub.frames.length;
    pub.ws.send(record({ t: 'pub', id: 1, channel: 'big', name: 'n', data: 'x'.repeat(100 * 1024), messageId: 'big-1' }), { binary: true });
    pub.ws.send(record({ t: 'ping', id: 2 }), { binary: true });
    await until(() => pub.frames.some((f) => f.t === 'pong'), 'the pong behind the oversized publish', 5000);
    expect(pub.frames.slice(from, -1)).toMatchObject([{ t: 'err', id: 1, code: 41300 }]);
    pub.ws.send(record({ t: 'pub', id: 3, channel: 'big', name: 'n', data: 'x'.repeat(TRANSPORT_BOUND), messageId: 'big-3' }), { binary: true });
    expect(await pub.closedWithin(5000)).toBe(1009);
  });
});

describe('connection budgets', () => {
  const states = new Map<Realtime, string[]>();
  const real: Realtime[] = [];

  /** Open `n` sockets that never send anything; those still open once every attempt settled. */
  async function squatters(url: string, n: number): Promise<WebSocket[]> {
    const all = Array.from({ length: n }, () => new WebSocket(url));
    sockets.push(...all);
    await Promise.all(
      all.map(
        (ws) =>
          new Promise<void>((resolve) => {
            ws.once('open', () => resolve());
            ws.once('error', () => resolve());
            ws.once('close', () => resolve());
          }),
      ),
    );
    return all;
  }

  it('200 sockets that never authenticate cannot keep 20 real clients out; the 21st authenticated client is refused with 1013', async () => {
    const started = Date.now();
    const idle = await squatters(budget.url, 200);
    for (let i = 0; i < 20; i++) {
      const rt = client(budget.url, { token: await sign(APP, `real-${i}`) });
      const seen: string[] = [];
      rt.connection.on((change) => seen.push(change.current));
      states.set(rt, seen);
      real.push(rt);
    }
    await until(() => real.every((rt) => rt.connection.state === 'connected'), '20 real clients to connect', 8000);
    // From here on no real client may drop. (Before, 20 handshakes at once in a pending budget of 10
    // may evict one another; an evicted client came back after its backoff.)
    for (const seen of states.values()) seen.length = 0;
    // Well inside the 10 s auth timeout: the squatters did not leave by timing out.
    expect(Date.now() - started, 'time for the real clients to get in (ms)').toBeLessThan(8000);
    await until(() => idle.filter((ws) => ws.readyState === WebSocket.OPEN).length <= 10, 'squatters beyond the pending budget to be closed', 5000);

    const extra = await open(budget.url);
    extra.ws.send(JSON.stringify({ t: 'auth', token: await sign(APP, 'real-21') }));
    expect(await extra.closedWithin(5000)).toBe(1013);
    expect(extra.frames.filter((f) => f.t === 'connected')).toHaveLength(0);
  });

  it('more squatters do not disturb the authenticated clients', async () => {
    await squatters(budget.url, 200);
    const rt = real[0];
    const got: unknown[] = [];
    await rt.channels.get('budget').attach();
    rt.channels.get('budget').on((m) => got.push(m.data));
    await real[1].channels.get('budget').publish('n', 'still here');
    await until(() => got.includes('still here'), 'a message between two authenticated clients', 5000);
    for (const [r, seen] of states) expect(seen, `client ${real.indexOf(r)} never dropped`).not.toContain('disconnected');
  });

  it('long-poll sessions and WebSockets share --max-connections', async () => {
    const connectLp = async (clientId: string) => {
      const res = await fetch(`${shared.http}/lp/connect`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(encodeClientFrame({ t: 'auth', token: await sign(APP, clientId) })),
      });
      return { status: res.status, session: res.headers.get('foony-lp-session'), frames: decodeServerRecords(new Uint8Array(await res.arrayBuffer())) };
    };
    const ws1 = await authedRaw(shared, APP, 'ws-1');
    const ws2 = await authedRaw(shared, APP, 'ws-2');
    raws.push(ws1, ws2);
    const lp1 = await connectLp('lp-1');
    expect(lp1.session, 'the third connection, a long-poll session, got in').toBeTruthy();
    expect(lp1.frames[0]).toMatchObject({ t: 'connected' });

    const lp2 = await connectLp('lp-2');
    expect(lp2.session, 'a fourth connection over long-poll').toBeNull();
    expect(lp2.frames).toMatchObject([{ t: 'err', code: 50300 }]);
    const ws3 = await open(shared.url);
    ws3.ws.send(JSON.stringify({ t: 'auth', token: await sign(APP, 'ws-3') }));
    expect(await ws3.closedWithin(5000), 'a fourth connection over WebSocket').toBe(1013);

    // A slot freed by either transport serves the other.
    ws1.close();
    await until(async () => (await connectLp('lp-3')).session !== null, 'a long-poll session once a WebSocket left', 5000);
  });
});
