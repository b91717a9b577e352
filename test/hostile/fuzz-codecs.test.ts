/**
 * Time-bounded fuzzing of both codecs and of long-poll bodies against a real `hubbub serve`, while a
 * bystander in another process pings the server every 20 ms (so the fuzzer's own event loop cannot
 * hide or inflate the server's lag) and samples its resident memory.
 *
 * 1. Binary records on an authenticated binary (Foony) connection: valid records of every client
 *    frame type, byte-level mutations of them, wrong length prefixes, concatenations of many records
 *    in one message, very deep JSON, exact sizes around --max-payload and four times it, random bytes.
 * 2. Random first messages on fresh connections, binary and JSON text.
 * 3. `POST /lp/connect` with random bodies; `POST /lp/send` with random records on a live session,
 *    replies read through `POST /lp/poll`.
 *
 * The oracle reads each message with its own framing walk (docs/internal/foony-wire-notes.md §2.2:
 * `uvarint(length) || record`; the request id is the first uvarint after the opcode, after one more
 * byte for `pub` and `pres`), not with the codec under test, and expects, in the order of the records:
 * a reply to every request whose id it can read, a `pong` per ping, `connected` or an `err` per auth,
 * an `err` 40001 per record it cannot attribute; every `err` carries a documented code under 50000.
 * What closes a connection is only what the protocol says: more than 512 records in one message
 * (4002), a message over 4× --max-payload (1009), an auth record in a message over --max-payload (1009),
 * and a message pipelining so many reads that their replies pass --max-buffered (4008; long-poll 410).
 * One channel the fuzzer reads holds a full history, so reads cost what they cost on a live channel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import WebSocket from 'ws';
import { decodeClientRecords, decodeServerRecords, encodeClientFrame, type ClientFrame, type ServerFrame } from '@hubbub/protocol';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { closeClients } from '../support/clients.js';
import { DOCUMENTED_CODES, bystander, sign, type Bystander } from './support.js';

const APP = 'fuzz-codecs';
/** Fuzzing time per part: about 45 s in all. */
const FUZZ_MS = { binary: 17_000, binaryFirst: 5_000, jsonFirst: 5_000, longPoll: 17_000 };
const MAX_RUNS = 1_000_000;
const MAX_PING_MS = 200;
const MAX_RSS_GROWTH_MIB = 100;

/** hubbub serve's defaults (docs/server.md, SECURITY.md): --max-payload, and the bounds derived from it. */
const MAX_PAYLOAD = 64 * 1024;
const TRANSPORT_BOUND = 4 * MAX_PAYLOAD;
const MAX_RECORDS = 512;
/** Requests answered one by one in an oversized message (protocol.md); more closes it with 1009. */
const MAX_OVERSIZE_REFUSALS = 64;
const MAX_AUTH_FRAME = 32 * 1024;
/** Before auth, a WebSocket message and a `/lp/connect` body are held to this. */
const PENDING_MESSAGE_BOUND = 64 * 1024;
const JSON_DEPTH_LIMIT = 64;

/**
 * A message over 4× --max-payload closes with 1009: the server lets a socket that is already closing
 * finish its close handshake (packages/server/src/transport/ws.ts `terminate`) instead of destroying it
 * at once, which used to turn about 1 in 7 of these closes into a bare 1006.
 */
const OVER_BOUND_CLOSE_CODES = [1009];

const REPLY_TYPES = new Set(['ack', 'histRes', 'fetchRes', 'pong', 'connected', 'err']);
const SENTINEL_CHANNEL = 'fz-sentinel';

let server: RunningServer;
let watch: Bystander;
let probe: LagProbe;
let token: string;

beforeAll(async () => {
  // High rates so the fuzzer reaches the engine rather than the rate limiters; a small history
  // budget so what the fuzzer legitimately stores cannot pass for a leak in the memory bound.
  server = await startServer(['--publish-rate', '100000', '--presence-rate', '100000', '--max-history-per-app', String(24 * 1024 * 1024)]);
  token = await sign(APP, 'fuzzer');
  watch = await bystander(server, APP);
  probe = await LagProbe.start(server, await sign(APP, 'lag-probe'));
  await seedHistory();
});
afterAll(async () => {
  probe?.stop();
  closeClients();
  for (const c of openConns) c.ws.terminate();
  await cleanup(server);
});

// ---------------------------------------------------------------------------------------------
// The lag probe: a JSON client in its own process

/** Runs in a child process (CommonJS, `ws` from the repository): pings every 20 ms, samples RSS. */
const PROBE_SCRIPT = String.raw`
const WebSocket = require('ws');
const { readFileSync } = require('node:fs');
const { url, token, pid } = JSON.parse(process.env.HUBBUB_LAG_PROBE);
const rss = () => { try { return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/' + pid + '/status', 'utf8'))[1]) * 1024; } catch { return 0; } };
const sent = new Map();
let id = 0, closed, base = rss(), peak = base, firstBase, overallPeak = 0;
let win = { pings: 0, worst: 0, worstAt: 0, slow: [], rssMiB: [] };
let ticks = 0;
const note = (rtt, at) => {
  if (rtt > win.worst) { win.worst = rtt; win.worstAt = at; }
  if (rtt > 50) win.slow.push([Math.round(at), Math.round(rtt)]);
};
const ws = new WebSocket(url);
ws.on('open', () => ws.send(JSON.stringify({ t: 'auth', token })));
ws.on('close', (code) => { closed = code; });
ws.on('message', (data) => {
  const f = JSON.parse(String(data));
  if (f.t === 'connected') {
    process.send({ t: 'ready' });
    setInterval(() => {
      const r = rss(); if (r > peak) peak = r; if (r > overallPeak) overallPeak = r;
      if (++ticks % 50 === 0) win.rssMiB.push(Math.round(r / 1048576));
      if (closed !== undefined) return;
      sent.set(++id, { t0: performance.now(), at: Date.now() });
      ws.send(JSON.stringify({ t: 'ping', id }));
    }, 20);
  } else if (f.t === 'pong' && sent.has(f.id)) {
    const s = sent.get(f.id); sent.delete(f.id);
    win.pings++; note(performance.now() - s.t0, s.at);
  }
});
process.on('message', (m) => {
  if (m === 'baseline') { base = peak = rss(); firstBase ??= base; return process.send({ t: 'baseline', rss: base }); }
  // A ping still unanswered counts with its age: a stalled server must not look idle.
  for (const s of sent.values()) note(performance.now() - s.t0, s.at);
  process.send({ t: 'window', ...win, slow: win.slow.slice(0, 20), closed, rssBase: base, rssPeak: peak, rssFirstBase: firstBase, rssOverallPeak: overallPeak });
  win = { pings: 0, worst: 0, worstAt: 0, slow: [], rssMiB: [] };
});
`;

interface LagWindow {
  pings: number;
  worst: number;
  /** Wall-clock time (Date.now()) the worst ping was sent. */
  worstAt: number;
  /** [sent at, round trip ms] of pings over 50 ms. */
  slow: Array<[number, number]>;
  closed?: number;
  /** The server's RSS each second of the window, MiB. */
  rssMiB: number[];
  /** The server's RSS at the part's start, and its peak since. */
  rssBase: number;
  rssPeak: number;
  /** The same from the first part's start. */
  rssFirstBase: number;
  rssOverallPeak: number;
}

class LagProbe {
  private constructor(private readonly proc: ChildProcess) {}

  static async start(srv: RunningServer, probeToken: string): Promise<LagProbe> {
    const proc = spawn(process.execPath, ['-e', PROBE_SCRIPT], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, HUBBUB_LAG_PROBE: JSON.stringify({ url: srv.url, token: probeToken, pid: srv.proc.pid }) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const probe = new LagProbe(proc);
    await probe.next('ready', 10_000);
    return probe;
  }

  /** Memory from now on is measured against the server's RSS now. */
  async baseline(): Promise<void> {
    this.proc.send('baseline');
    await this.next('baseline', 5000);
  }

  /** Round trips since the last window (or the start), and the RSS peaks since the baselines. */
  async window(): Promise<LagWindow> {
    this.proc.send('window');
    return (await this.next('window', 5000)) as unknown as LagWindow;
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }

  private next(t: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.proc.off('message', onMessage);
        this.proc.off('exit', onExit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`lag probe: no ${t} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (m: Record<string, unknown>) => {
        if (m.t !== t) return;
        done();
        resolve(m);
      };
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`lag probe exited (${code})`));
      };
      this.proc.on('message', onMessage);
      this.proc.once('exit', onExit);
    });
  }
}

/**
 * fc.assert for `timeLimitMs`. fast-check abandons the run still in flight when the time is up; it
 * is awaited here, so a run that was about to fail (a hang ending in a timeout) still fails the test.
 */
async function fuzz<T>(arb: fc.Arbitrary<T>, timeLimitMs: number, body: (value: T) => Promise<void>): Promise<void> {
  let last: Promise<void> = Promise.resolve();
  await fc.assert(
    fc.asyncProperty(arb, (value) => (last = body(value))),
    { numRuns: MAX_RUNS, interruptAfterTimeLimit: timeLimitMs, markInterruptAsFailure: false },
  );
  await last;
}

/** What the fuzzer sent lately, to name the inputs in flight around a slow ping. */
const recent: Array<{ at: number; what: string }> = [];
function sending(what: string): void {
  recent.push({ at: Date.now(), what });
  if (recent.length > 4000) recent.splice(0, 1000);
}

const MiB = 1024 * 1024;

/** The part's lag and memory bounds, with the inputs in flight around the worst ping when they fail. */
async function checkCost(part: string): Promise<LagWindow> {
  const w = await probe.window();
  const rssGrowthMiB = (w.rssPeak - w.rssBase) / MiB;
  console.log(
    `${part}: ${w.pings} probe pings, worst round trip ${w.worst.toFixed(1)} ms, ${w.slow.length} over 50 ms; server RSS ${(w.rssBase / MiB).toFixed(0)} MiB, peak +${rssGrowthMiB.toFixed(1)} MiB; RSS each second: ${w.rssMiB.join(' ')}`,
  );
  const before = recent.filter((r) => r.at < w.worstAt).slice(-8);
  const during = recent.filter((r) => r.at >= w.worstAt && r.at <= w.worstAt + w.worst).slice(0, 8);
  const around = [...before, ...during].map((r) => `${r.at - w.worstAt} ms: ${r.what}`);
  expect(w.closed, `the lag probe's connection never closed (${part})`).toBeUndefined();
  expect(w.pings, `the lag probe pinged throughout (${part})`).toBeGreaterThan(10);
  expect(w.worst, `worst bystander ping round trip, ms (${part}); slow pings [sent at, ms] ${JSON.stringify(w.slow)}; what the fuzzer sent around the worst:\n${around.join('\n')}`).toBeLessThan(MAX_PING_MS);
  expect(rssGrowthMiB, `server RSS growth, MiB (${part}); each second: ${w.rssMiB.join(' ')}`).toBeLessThan(MAX_RSS_GROWTH_MIB);
  return w;
}

/** Each part's lag and memory are its own: what an earlier, failed part left is not counted again. */
async function startPart(): Promise<void> {
  await probe.window();
  await probe.baseline();
  recent.length = 0;
}

function serverAlive(what: string): void {
  if (server.proc.exitCode !== null || server.proc.signalCode !== null) {
    throw new Error(`the server exited (${server.proc.exitCode ?? server.proc.signalCode}) after ${what}\n${server.logs.slice(-20).join('\n')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes: an encoder of our own for what encodeClientFrame cannot make (deep raw JSON, bad fields)

const utf8 = new TextEncoder();

function uvarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function field(bytes: Uint8Array | string): Uint8Array {
  const b = typeof bytes === 'string' ? utf8.encode(bytes) : bytes;
  return concat([Uint8Array.from(uvarint(b.length)), b]);
}

/** Bytes from numbers, number lists and byte strings (no spreading: fields can be large). */
function bytesOf(...parts: Array<number | number[] | Uint8Array>): Uint8Array {
  return concat(parts.map((p) => (typeof p === 'number' ? Uint8Array.of(p) : p instanceof Uint8Array ? p : Uint8Array.from(p))));
}

/** A length-prefixed record from its body. */
function record(...body: Array<number | number[] | Uint8Array>): Uint8Array {
  const b = bytesOf(...body);
  return bytesOf(uvarint(b.length), b);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** JSON text nested `depth` levels deep, written as text (JSON.stringify would recurse). */
function deepJson(depth: number, shape: 'array' | 'object'): string {
  return shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);
}

function rawPub(id: number, channel: string, dataText: string, messageId: string, batchDataText?: string): Uint8Array {
  const head = [4, 0, uvarint(id), field(channel)];
  if (batchDataText === undefined) return record(...head, field('deep'), field(dataText), field(''), field(messageId), 0, 0);
  return record(...head, 0, field('null'), 0, field(messageId), 0, 2, field('a'), field(dataText), 0, field('b'), field(batchDataText), 0);
}

function rawPres(id: number, channel: string, dataText: string): Uint8Array {
  return record(5, 1, uvarint(id), field(channel), field(dataText), field(''));
}

/** A single publish of a string padded so the whole record is exactly `size` bytes (±1 at a varint step). */
function sizedPub(id: number, size: number): Uint8Array {
  let pad = Math.max(0, size - 40);
  for (let i = 0; i < 4; i++) {
    const r = rawPub(id, 'fz.big', JSON.stringify('x'.repeat(pad)), `big-${id}-${size}`);
    if (r.length === size) return r;
    pad = Math.max(0, pad + size - r.length);
  }
  return rawPub(id, 'fz.big', JSON.stringify('x'.repeat(pad)), `big-${id}-${size}`);
}

/** Counterexamples print as sizes and hex, not as 300 KiB of decimal bytes. */
function printable(bytes: Uint8Array): Uint8Array {
  return Object.assign(bytes, { [fc.toStringMethod]: () => `<${hex(bytes, 400)}>` });
}

/** The records as the server's codec reads them: for failure messages only, never for the oracle. */
function summary(msg: Uint8Array): string {
  if (msg.length > TRANSPORT_BOUND) return 'over the transport bound';
  const frames = decodeClientRecords(msg, MAX_RECORDS + 1);
  const shown = frames.slice(0, 12).map((f) => (f instanceof Error ? `malformed${f.requestId !== undefined ? `#${f.requestId}` : ''}` : `${f.t}${'id' in f && f.id !== undefined ? `#${f.id}` : ''}${'channel' in f ? ` ${f.channel}` : ''}`));
  return `${frames.length} records: ${shown.join(', ')}${frames.length > 12 ? ', …' : ''}`;
}

function hex(bytes: Uint8Array, max = 160): string {
  const shown = Buffer.from(bytes.subarray(0, max)).toString('hex');
  return `${bytes.length} bytes [${shown}${bytes.length > max ? '…' : ''}]`;
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const id = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 100_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 53 - 1) },
);
const channel = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('fz', 'fz.a', 'fz:b', 'x', '__proto__', 'constructor', 'a-b_c:d.e') },
  { weight: 1, arbitrary: fc.stringMatching(/^fz[a-z0-9.:_-]{0,6}[a-z0-9]$/) },
  { weight: 1, arbitrary: fc.constantFrom('', '.x', 'x.', 'a..b', 'é', 'a b', 'x'.repeat(256)) },
);
/** Reads also go to the seeded channel, which no generated write reaches (its history stays full). */
const readChannel = fc.oneof({ weight: 3, arbitrary: channel }, { weight: 1, arbitrary: fc.constant('fz.hist') });
const data = fc.jsonValue({ maxDepth: 3 });
const shortText = fc.string({ maxLength: 16 });

/** Valid frames of every client frame type with a binary form. */
const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null).map(() => ({ t: 'auth', token }) as ClientFrame) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('auth'), key: fc.constantFrom(`${APP}.nokey:secret`, 'junk'), clientId: shortText }) as fc.Arbitrary<ClientFrame> },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('sub'), id, channel: readChannel, lastSerial: fc.option(fc.nat({ max: 200 }), { nil: undefined }) }) as fc.Arbitrary<ClientFrame> },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unsub'), id, channel }) as fc.Arbitrary<ClientFrame> },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('pub'),
      id,
      channel,
      name: shortText,
      data,
      messageId: fc.string({ minLength: 1, maxLength: 24 }),
      encoding: fc.option(fc.constantFrom('json', 'cipher+aes-256-gcm/base64'), { nil: undefined }),
      ephemeral: fc.option(fc.boolean(), { nil: undefined }),
      messages: fc.option(fc.array(fc.record({ name: shortText, data }), { minLength: 1, maxLength: 5 }), { nil: undefined }),
    }) as fc.Arbitrary<ClientFrame>,
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('pres'), id, channel, action: fc.constantFrom('enter', 'update', 'leave'), data: fc.option(data, { nil: undefined }) }) as fc.Arbitrary<ClientFrame> },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('presSub'), id, channel }) as fc.Arbitrary<ClientFrame> },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('presUnsub'), id, channel }) as fc.Arbitrary<ClientFrame> },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('hist'), id, channel: readChannel, limit: fc.option(fc.nat({ max: 2000 }), { nil: undefined }), before: fc.option(fc.nat({ max: 200 }), { nil: undefined }) }) as fc.Arbitrary<ClientFrame> },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fetch'), id, channel: readChannel, fromSerial: fc.nat({ max: 200 }) }) as fc.Arbitrary<ClientFrame> },
  { weight: 2, arbitrary: fc.constant({ t: 'ping' } as ClientFrame) },
);

/** A mutation of a byte string: positions are taken modulo its length. */
type ByteMutation =
  | { op: 'flip'; at: number; xor: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'extend'; bytes: Uint8Array }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number }
  | { op: 'prefix'; prefix: 'shorter' | 'longer' | 'zero' | 'huge' | 'unsafe' | 'overlong' | 'unterminated' };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 0x7f, 0x80, 0xff, 1, 4, 5, 10, 11) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('prefix' as const), prefix: fc.constantFrom('shorter', 'longer', 'zero', 'huge', 'unsafe', 'overlong', 'unterminated') }),
) as fc.Arbitrary<ByteMutation>;

/** The value and byte length of the uvarint at the start of `bytes`, if it has one. */
function leadingVarint(bytes: Uint8Array): { value: number; size: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < Math.min(bytes.length, 10); i++) {
    value += (bytes[i] & 0x7f) * scale;
    if (bytes[i] < 0x80) return { value, size: i + 1 };
    scale *= 0x80;
  }
  return undefined;
}

function mutateBytes(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  const n = bytes.length;
  const at = (i: number) => (n === 0 ? 0 : i % n);
  switch (m.op) {
    case 'flip': {
      const out = bytes.slice();
      if (n) out[at(m.at)] ^= m.xor;
      return out;
    }
    case 'set': {
      const out = bytes.slice();
      if (n) out[at(m.at)] = m.value;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at(m.at));
    case 'extend':
      return concat([bytes, m.bytes]);
    case 'insert':
      return concat([bytes.subarray(0, at(m.at)), m.bytes, bytes.subarray(at(m.at))]);
    case 'delete':
      return concat([bytes.subarray(0, at(m.at)), bytes.subarray(at(m.at) + m.count)]);
    case 'prefix': {
      const lead = leadingVarint(bytes);
      const rest = lead ? bytes.subarray(lead.size) : bytes;
      const len = lead?.value ?? rest.length;
      const prefix = {
        shorter: uvarint(Math.max(0, len - 1)),
        longer: uvarint(len + 1),
        zero: [0],
        huge: uvarint(2 ** 40),
        unsafe: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // above 2^53-1
        overlong: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], // 11 bytes
        unterminated: [0x80, 0x80],
      }[m.prefix];
      return concat([Uint8Array.from(prefix), rest]);
    }
  }
}

const validRecord = clientFrame.map((f) => encodeClientFrame(f));
const mutatedRecord = fc.tuple(validRecord, fc.array(byteMutation, { minLength: 1, maxLength: 3 })).map(([r, ms]) => ms.reduce(mutateBytes, r));
const unknownOpcode = fc.tuple(fc.constantFrom(0, 11, 12, 15, 19, 20, 127, 255), fc.uint8Array({ maxLength: 12 })).map(([op, rest]) => record(op, rest));
const deepRecord = fc
  .tuple(
    fc.constantFrom('pub', 'batch', 'pres'),
    fc.constantFrom(JSON_DEPTH_LIMIT - 1, JSON_DEPTH_LIMIT, JSON_DEPTH_LIMIT + 1, 1000, 20_000),
    fc.constantFrom('array', 'object'),
    id,
  )
  .map(([kind, depth, shape, reqId]) => {
    const text = deepJson(depth as number, shape as 'array' | 'object');
    if (kind === 'pres') return rawPres(reqId, 'fz.deep', text);
    return rawPub(reqId, 'fz.deep', kind === 'pub' ? text : '1', `deep-${reqId}-${depth}-${Math.random()}`, kind === 'batch' ? text : undefined);
  });
const bigPub = fc.tuple(id, fc.integer({ min: 1024, max: 12 * 1024 })).map(([reqId, size]) => sizedPub(reqId, size));

const part: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: validRecord },
  { weight: 6, arbitrary: mutatedRecord },
  { weight: 1, arbitrary: unknownOpcode },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 1, arbitrary: deepRecord },
  { weight: 1, arbitrary: bigPub },
);

/** Sizes that straddle each bound on one message. */
const boundarySize = fc.constantFrom(MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 1, 100 * 1024, TRANSPORT_BOUND, TRANSPORT_BOUND + 1, 300 * 1024);

/** One binary message: usually a few records, sometimes many, sometimes exactly at a size bound. */
const message: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 10, arbitrary: fc.array(part, { minLength: 1, maxLength: 8 }).map(concat) },
  { weight: 2, arbitrary: fc.tuple(fc.array(part, { minLength: 1, maxLength: 4 }), fc.array(byteMutation, { minLength: 1, maxLength: 2 })).map(([ps, ms]) => ms.reduce(mutateBytes, concat(ps))) },
  {
    // Many records in one message, across the 512-record bound, up to ~64 KiB.
    weight: 2,
    arbitrary: fc
      .tuple(fc.oneof(validRecord, mutatedRecord), fc.oneof(fc.integer({ min: 2, max: 600 }), fc.constantFrom(MAX_RECORDS, MAX_RECORDS + 1)))
      .map(([r, k]) => concat(Array.from({ length: Math.max(1, Math.min(k, Math.floor(MAX_PAYLOAD / Math.max(1, r.length)))) }, () => r))),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.array(validRecord, { maxLength: 3 }), id, boundarySize).map(([head, reqId, size]) => {
      const h = concat(head);
      return concat([h, sizedPub(reqId, Math.max(64, size - h.length))]);
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 256 }) },
);

// ---------------------------------------------------------------------------------------------
// The oracle

interface Walked {
  /** Each complete record: its opcode (undefined when empty) and the request id we can read. */
  records: Array<{ op?: number; id?: number }>;
  /** A broken length prefix ended the message (it counts as one more, malformed, record). */
  brokenTail: boolean;
}

/** A uvarint inside [pos, end), as docs/internal/foony-wire-notes.md §2.1 defines it (≤ 10 bytes, ≤ 2^53-1). */
function readVarint(b: Uint8Array, pos: number, end: number): { value: number; next: number } | undefined {
  let value = 0n;
  for (let i = 0; i < 10 && pos + i < end; i++) {
    value |= BigInt(b[pos + i] & 0x7f) << BigInt(7 * i);
    if (b[pos + i] < 0x80) return value <= BigInt(Number.MAX_SAFE_INTEGER) ? { value: Number(value), next: pos + i + 1 } : undefined;
  }
  return undefined;
}

const ID_AFTER_OPCODE = new Set([2, 3, 6, 7, 8, 9]);
const ID_AFTER_FLAGS = new Set([4, 5]);

function walk(b: Uint8Array, maxRecords = Infinity): Walked {
  const records: Walked['records'] = [];
  let pos = 0;
  while (pos < b.length && records.length < maxRecords) {
    const len = readVarint(b, pos, b.length);
    if (!len || len.value > b.length - len.next) return { records, brokenTail: true };
    const start = len.next;
    const end = start + len.value;
    const op = start < end ? b[start] : undefined;
    let reqId: number | undefined;
    if (op !== undefined && ID_AFTER_OPCODE.has(op)) reqId = readVarint(b, start + 1, end)?.value;
    if (op !== undefined && ID_AFTER_FLAGS.has(op) && start + 2 <= end) reqId = readVarint(b, start + 2, end)?.value;
    records.push({ op, id: reqId });
    pos = end;
  }
  return { records, brokenTail: false };
}

/** What one reply frame must be. `code`: the err code it must carry, when it is an err (or must be one). */
type Expectation = { kind: 'reply'; id: number; code?: number } | { kind: 'pong' } | { kind: 'auth' } | { kind: 'unscoped'; code?: number };

interface Verdict {
  expectations: Expectation[];
  /** 'never': the connection must stay; 'must': it must close with one of `codes`; 'may': either. */
  close: 'never' | 'must' | 'may';
  codes: number[];
  /** For 'must': the exact reply frames before the close. */
  before?: Expectation[];
  /**
   * The message asks for so many reads (hist, fetch, sub) that their replies may pass the unsent-bytes
   * bound (--max-buffered, 4 MiB; the long-poll queue, 4 MiB): then a close 4008 (long-poll: 410) is
   * the documented outcome. Replies to pipelined requests are not held back for the socket to drain.
   */
  slowConsumer: boolean;
}

/** Reads whose replies can each be up to a 256 KiB history page: more than this many may pass 4 MiB. */
const MAX_READS_UNDER_BUFFER = 8;
const READ_OPS = new Set([2, 8, 9]);

function expectationOf(r: { op?: number; id?: number }, tooLarge: boolean): Expectation {
  const code = tooLarge ? 41300 : undefined;
  if (r.id !== undefined) return { kind: 'reply', id: r.id, code };
  if (tooLarge) return { kind: 'unscoped', code };
  if (r.op === 10) return { kind: 'pong' };
  if (r.op === 1) return { kind: 'auth' };
  return { kind: 'unscoped', code: 40001 };
}

/** What an authenticated binary connection must answer to `msg` (protocol.md, SECURITY.md limits). */
function verdictAuthenticated(msg: Uint8Array): Verdict {
  if (msg.length > TRANSPORT_BOUND) return { expectations: [], close: 'must', codes: OVER_BOUND_CLOSE_CODES, before: [], slowConsumer: false };
  if (msg.length > MAX_PAYLOAD) {
    // 41300 for each of the first 64 requests; more than 64, or an auth record in it, ends the connection (1009).
    const w = walk(msg, MAX_OVERSIZE_REFUSALS + 1);
    const entries = [...w.records, ...(w.brokenTail && w.records.length <= MAX_OVERSIZE_REFUSALS ? [{ op: undefined, id: undefined }] : [])];
    const answered = entries.slice(0, MAX_OVERSIZE_REFUSALS);
    const auth = answered.findIndex((r) => r.op === 1);
    if (entries.length > MAX_OVERSIZE_REFUSALS) {
      // All 64 refused, then the rest with one refusal and a close. A record with the auth opcode ends it
      // early if it decodes as an auth frame: then the replies are a prefix of the refusals.
      const refusals = answered.map((r) => expectationOf(r, true));
      if (auth >= 0) return { expectations: [...refusals, { kind: 'unscoped', code: 41300 }], close: 'must', codes: [1009], slowConsumer: false };
      return { expectations: [], close: 'must', codes: [1009], before: [...refusals, { kind: 'unscoped', code: 41300 }], slowConsumer: false };
    }
    return { expectations: answered.map((r) => expectationOf(r, true)), close: w.records.some((r) => r.op === 1) ? 'may' : 'never', codes: [1009], slowConsumer: false };
  }
  const w = walk(msg, MAX_RECORDS + 2);
  const count = w.records.length + (w.brokenTail ? 1 : 0);
  if (w.records.length > MAX_RECORDS) return { expectations: [], close: 'must', codes: [4002], before: [{ kind: 'unscoped', code: 40001 }], slowConsumer: false };
  const expectations = w.records.map((r) => expectationOf(r, false));
  if (w.brokenTail) expectations.push({ kind: 'unscoped', code: 40001 });
  const reads = w.records.filter((r) => r.op !== undefined && READ_OPS.has(r.op) && r.id !== undefined).length;
  // Exactly at the bound with a broken tail: whether the tail counts as a record is not specified.
  return { expectations, close: count > MAX_RECORDS ? 'may' : 'never', codes: [4002], before: [{ kind: 'unscoped', code: 40001 }], slowConsumer: reads > MAX_READS_UNDER_BUFFER };
}

function matches(f: ServerFrame, e: Expectation): boolean {
  const fid = 'id' in f ? (f as { id?: number }).id : undefined;
  const code = f.t === 'err' ? f.code : undefined;
  switch (e.kind) {
    case 'reply':
      // An err for request 0 has no id on the wire (0 means "not request-scoped").
      if (e.id === 0 && f.t === 'err' && fid === undefined) return e.code === undefined || code === e.code;
      if (!['ack', 'histRes', 'fetchRes', 'err'].includes(f.t) || fid !== e.id) return false;
      return e.code === undefined || code === e.code;
    case 'pong':
      return f.t === 'pong';
    case 'auth':
      return f.t === 'connected' || (f.t === 'err' && fid === undefined);
    case 'unscoped':
      return f.t === 'err' && fid === undefined && (e.code === undefined || code === e.code);
  }
}

/** Every err is documented, under 50000, with a message. */
function checkErrs(frames: readonly ServerFrame[], what: () => string): void {
  for (const f of frames) {
    if (f.t !== 'err') continue;
    if (!DOCUMENTED_CODES.includes(f.code)) throw new Error(`${what()}: err with an undocumented code ${JSON.stringify(f)}`);
    if (f.code >= 50000) throw new Error(`${what()}: a malformed message caused a server error ${JSON.stringify(f)}`);
    if (typeof f.message !== 'string' || f.message.length === 0) throw new Error(`${what()}: err without a message ${JSON.stringify(f)}`);
  }
}

/** The reply frames match the expectations one for one, in order (replies keep the order of requests). */
function checkReplies(replies: readonly ServerFrame[], expected: readonly Expectation[], prefixOnly: boolean, what: () => string): void {
  const show = () => `expected ${JSON.stringify(expected).slice(0, 600)}, got ${JSON.stringify(replies).slice(0, 800)}`;
  if (replies.length > expected.length || (!prefixOnly && replies.length !== expected.length)) {
    throw new Error(`${what()}: ${replies.length} replies for ${expected.length} records; ${show()}`);
  }
  replies.forEach((f, i) => {
    if (!matches(f, expected[i])) throw new Error(`${what()}: reply ${i} does not answer record ${i}; ${show()}`);
  });
}

function tally(counts: Record<string, number>, key: string, n = 1): void {
  counts[key] = (counts[key] ?? 0) + n;
}

function tallyReplies(counts: Record<string, number>, replies: readonly ServerFrame[]): void {
  for (const f of replies) tally(counts, f.t === 'err' ? `err ${f.code}` : f.t);
}

// ---------------------------------------------------------------------------------------------
// Binary WebSocket connections

const openConns = new Set<BinaryConn>();

class BinaryConn {
  readonly frames: ServerFrame[] = [];
  /** Server output the client could not read: always a server bug. */
  readonly unreadable: string[] = [];
  closed?: { code: number; reason: string };
  private waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const buf = data as Buffer;
      if (!isBinary) this.unreadable.push(`a text message on a binary connection: ${String(buf).slice(0, 200)}`);
      else {
        try {
          this.frames.push(...decodeServerRecords(buf));
        } catch (err) {
          this.unreadable.push(`${(err as Error).message}: ${hex(buf)}`);
        }
      }
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      openConns.delete(this);
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  static async open(): Promise<BinaryConn> {
    const ws = new WebSocket(server.url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const conn = new BinaryConn(ws);
    openConns.add(conn);
    return conn;
  }

  static async authenticated(): Promise<BinaryConn> {
    const conn = await BinaryConn.open();
    conn.send(encodeClientFrame({ t: 'auth', token }));
    await conn.until(() => conn.frames.some((f) => f.t === 'connected'), 'the binary client to connect');
    return conn;
  }

  send(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes, { binary: true });
  }

  /** Wait (on events, not a timer loop) until `check` holds or the socket closes. */
  async until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-10)).slice(0, 600)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async closedWithin(ms: number): Promise<{ code: number; reason: string } | undefined> {
    await this.until(() => this.closed !== undefined, 'a close', ms).catch(() => undefined);
    return this.closed;
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/**
 * A channel the fuzzer reads holds a full history (100 messages of 1 KiB), as a live channel would:
 * reads then cost what they cost in production, not what an empty channel costs.
 */
const SEEDED_CHANNEL = 'fz.hist';
async function seedHistory(): Promise<void> {
  const conn = await BinaryConn.authenticated();
  const pubs = Array.from({ length: 100 }, (_, i) => encodeClientFrame({ t: 'pub', id: i + 1, channel: SEEDED_CHANNEL, name: 'seed', data: 'x'.repeat(1024), messageId: `seed-${i}` }));
  conn.send(concat(pubs.slice(0, 50))); // two messages: each under --max-payload
  conn.send(concat(pubs.slice(50)));
  await conn.until(() => conn.frames.filter((f) => f.t === 'ack').length === 100, 'the seed publishes to be acked');
  conn.close();
}

/** Request ids for sentinels, far from what the fuzzer generates. */
let sentinelId = 2 ** 52;
const sentinel = (reqId: number) => encodeClientFrame({ t: 'unsub', id: reqId, channel: SENTINEL_CHANNEL });
const isSentinelReply = (reqId: number) => (f: ServerFrame) => 'id' in f && (f as { id?: number }).id === reqId;

/** Reply frames (not deliveries) among `frames`. */
const repliesIn = (frames: readonly ServerFrame[]) => frames.filter((f) => REPLY_TYPES.has(f.t));

describe('binary codec on an authenticated binary connection', () => {
  it('answers every readable request, a 40001 per malformed record, and closes only where the protocol says', async () => {
    await startPart();
    let conn = await BinaryConn.authenticated();
    /** A failed run leaves replies in flight: the next one (shrinking included) starts on a fresh connection. */
    let stale = false;
    const counts: Record<string, number> = {};
    let runs = 0;
    await fuzz(message.map(printable), FUZZ_MS.binary, async (msg) => {
      runs++;
      const what = () => `binary message (${summary(msg)}) ${hex(msg, 300)}`;
      if (conn.closed || stale) {
        conn.close();
        conn = await BinaryConn.authenticated();
        stale = false;
      }
      stale = true;
      const verdict = verdictAuthenticated(msg);
      const from = conn.frames.length;
      const sentinels: number[] = [];
      const settle = async () => {
        const sid = sentinelId++;
        sentinels.push(sid);
        conn.send(sentinel(sid));
        try {
          await conn.until(() => conn.frames.slice(from).some(isSentinelReply(sid)), 'the sentinel reply');
        } catch (err) {
          if (!conn.closed) throw new Error(`${what()}: ${(err as Error).message}`);
        }
      };
      sending(`ws binary ${msg.length} bytes (${summary(msg)})`);
      conn.send(msg);
      await settle();
      // A slow-consumer cut is decided once the replies are queued, so its close comes after them: look again.
      if (verdict.slowConsumer && !conn.closed) await settle();
      serverAlive(what());
      if (conn.unreadable.length) throw new Error(`${what()}: unreadable server output: ${conn.unreadable.join('; ')}`);
      // The sentinels are the last requests: what is left are the replies to `msg`, in order.
      const replies = repliesIn(conn.frames.slice(from)).filter((f) => !sentinels.some((sid) => isSentinelReply(sid)(f)));
      checkErrs(replies, what);
      if (conn.closed?.code === 4008 && verdict.slowConsumer) {
        checkReplies(replies, verdict.expectations, true, what);
        tally(counts, 'close 4008 (many reads)');
        stale = false;
        return;
      }
      if (conn.closed) {
        const { code, reason } = conn.closed;
        if (verdict.close === 'never') {
          const lately = recent.slice(-30).map((r) => r.what).join('\n');
          throw new Error(`${what()}: closed ${code} (${reason}); it must stay open. Replies: ${JSON.stringify(replies).slice(0, 600)}\nSent before:\n${lately}`);
        }
        if (!verdict.codes.includes(code)) throw new Error(`${what()}: closed ${code} (${reason}), expected ${verdict.codes.join(' or ')}`);
        // Closing, the server answers with the err of `before` alone, or (no `before`) a prefix of the replies.
        checkReplies(replies, verdict.before ?? verdict.expectations, verdict.before === undefined, what);
        tally(counts, `close ${code}`);
        stale = false;
        return;
      }
      if (verdict.close === 'must') throw new Error(`${what()}: still open; expected a close with ${verdict.codes.join(' or ')}`);
      checkReplies(replies, verdict.expectations, false, what);
      tallyReplies(counts, replies);
      tally(counts, 'records', verdict.expectations.length);
      // Keep the client's own buffer small: the frames checked are no longer needed.
      if (conn.frames.length > 10_000) conn.frames.splice(0, conn.frames.length);
      stale = false;
    });
    console.log(`binary codec: ${runs} messages`, counts);
    expect(runs, 'messages fuzzed').toBeGreaterThan(300);
    expect(counts.ack ?? 0, 'successful requests reached').toBeGreaterThan(50);
    expect(counts['err 40001'] ?? 0, 'malformed records answered').toBeGreaterThan(50);
    expect(counts['close 4002'] ?? 0, 'messages over 512 records').toBeGreaterThan(0);
    await checkCost('binary codec');
    await watch.check('binary codec fuzzing');
  }, FUZZ_MS.binary + 60_000);
});

// ---------------------------------------------------------------------------------------------
// Random first messages

/** What a fresh connection's first message earned, however it ended. */
async function firstMessage(send: (ws: WebSocket) => void, decode: 'binary' | 'text'): Promise<{ frames: ServerFrame[]; closed?: { code: number; reason: string }; unreadable: string[] }> {
  const ws = new WebSocket(server.url);
  const frames: ServerFrame[] = [];
  const unreadable: string[] = [];
  let closed: { code: number; reason: string } | undefined;
  const done = new Promise<void>((resolve) =>
    ws.on('close', (code, reason) => {
      closed = { code, reason: String(reason) };
      resolve();
    }),
  );
  ws.on('error', () => undefined);
  ws.on('message', (data, isBinary) => {
    const buf = data as Buffer;
    try {
      if (decode === 'binary' && isBinary) frames.push(...decodeServerRecords(buf));
      else if (decode === 'text' && !isBinary) frames.push(JSON.parse(String(buf)) as ServerFrame);
      else unreadable.push(`a ${isBinary ? 'binary' : 'text'} message answering a ${decode} first message`);
    } catch (err) {
      unreadable.push(`${(err as Error).message}: ${hex(buf)}`);
    }
    // Accepted, or answered with anything but an err: the verdict is in, no need to wait for a close.
    if (frames.some((f) => f.t !== 'err')) ws.terminate();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  send(ws);
  let timer!: NodeJS.Timeout;
  await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)))]).finally(() => clearTimeout(timer));
  if (!closed) ws.terminate();
  return { frames, closed, unreadable };
}

/**
 * Before auth: one err and a close, or (only for a single auth carrying the real token) `connected`.
 * `authLike`: the message is one auth frame with the test's token in it.
 */
function checkFirst(
  res: Awaited<ReturnType<typeof firstMessage>>,
  size: number,
  authLike: boolean,
  startsAsAuth: boolean,
  counts: Record<string, number>,
  what: () => string,
): void {
  if (res.unreadable.length) throw new Error(`${what()}: unreadable server output: ${res.unreadable.join('; ')}`);
  checkErrs(res.frames, what);
  if (res.frames.some((f) => f.t === 'connected')) {
    if (!authLike) throw new Error(`${what()}: a first message that is not an auth with a valid token was accepted: ${JSON.stringify(res.frames)}`);
    tally(counts, 'accepted');
    return;
  }
  const others = res.frames.filter((f) => f.t !== 'err');
  if (others.length) throw new Error(`${what()}: before auth the server answered ${JSON.stringify(others).slice(0, 400)}`);
  if (!res.closed) throw new Error(`${what()}: not closed within 5 s after ${JSON.stringify(res.frames)}`);
  const { code } = res.closed;
  tally(counts, `close ${code}`);
  if (size > PENDING_MESSAGE_BOUND) {
    if (!OVER_BOUND_CLOSE_CODES.includes(code) || res.frames.length > 1) throw new Error(`${what()}: over ${PENDING_MESSAGE_BOUND} bytes before auth: expected close 1009 and at most one err, got ${code} ${JSON.stringify(res.frames)}`);
    return;
  }
  if (res.frames.length !== 1) throw new Error(`${what()}: expected exactly one err before close ${code}, got ${JSON.stringify(res.frames).slice(0, 400)}`);
  tally(counts, `err ${(res.frames[0] as { code: number }).code}`);
  // Too big to read: an auth frame by its look is a credential problem (4101), anything else 4002.
  const allowed = size > MAX_AUTH_FRAME ? [startsAsAuth ? 4101 : 4002] : [4002, 4101, 4102];
  if (!allowed.includes(code)) throw new Error(`${what()}: closed ${code}, expected ${allowed.join(' or ')}`);
}

/** Does the first record's opcode (after its uvarint length) say auth? */
function firstRecordIsAuth(msg: Uint8Array): boolean {
  const len = readVarint(msg, 0, msg.length);
  return len !== undefined && msg[len.next] === 1;
}

/** A first binary message: mostly not a lone valid auth record. */
const firstBinary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: message.filter((m) => m.length <= 70 * 1024) },
  { weight: 3, arbitrary: fc.tuple(fc.constant(null), fc.array(byteMutation, { minLength: 1, maxLength: 3 })).map(([, ms]) => ms.reduce(mutateBytes, encodeClientFrame({ t: 'auth', token }))) },
  { weight: 1, arbitrary: fc.constant(null).map(() => encodeClientFrame({ t: 'auth', token })) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_AUTH_FRAME, MAX_AUTH_FRAME + 1, PENDING_MESSAGE_BOUND + 1).map((size) => record(1, 0, field('x'.repeat(size - 8)), 0, 0, 0)) },
);

const firstText: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: clientFrame.filter((f) => f.t !== 'auth').map((f) => JSON.stringify(f)) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('token', 't', 'key', 'clientId', 'resumeConnectionId', 'echo', '__proto__', 'id'), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined)))
      .map(([k, v]) => JSON.stringify({ t: 'auth', token, [k]: v })),
  },
  { weight: 1, arbitrary: fc.constant(null).map(() => JSON.stringify({ t: 'auth', token })) },
  { weight: 1, arbitrary: fc.constantFrom(JSON_DEPTH_LIMIT + 1, 20_000).map((d) => `{"t":"auth","token":${JSON.stringify(token)},"x":${deepJson(d, 'array')}}`) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_AUTH_FRAME, MAX_AUTH_FRAME + 1, PENDING_MESSAGE_BOUND + 1).map((size) => JSON.stringify({ t: 'auth', token: 'x'.repeat(size - 22) })) },
);

describe('random first messages on fresh connections', () => {
  it('binary: one err and a close (or connected for a lone valid auth record), never a reply to a request', async () => {
    await startPart();
    const counts: Record<string, number> = {};
    let runs = 0;
    const real = Buffer.from(token);
    await fuzz(firstBinary.map(printable), FUZZ_MS.binaryFirst, async (msg) => {
      runs++;
      const what = () => `first binary message ${hex(msg)}`;
      sending(`ws first binary ${hex(msg, 24)}`);
      const res = await firstMessage((ws) => ws.send(msg, { binary: true }), 'binary');
      serverAlive(what());
      const w = walk(msg);
      // Accepting a lone auth record that still carries the real token is fine (trailing bytes are ignored).
      const authLike = w.records.length === 1 && !w.brokenTail && w.records[0].op === 1 && Buffer.from(msg).includes(real);
      checkFirst(res, msg.length, authLike, firstRecordIsAuth(msg), counts, what);
    });
    console.log(`first binary messages: ${runs}`, counts);
    expect(runs).toBeGreaterThan(50);
    await checkCost('first binary messages');
  }, FUZZ_MS.binaryFirst + 60_000);

  it('JSON text: one err and a close (4002/4101/1009), or connected for a valid auth frame', async () => {
    await startPart();
    const counts: Record<string, number> = {};
    let runs = 0;
    await fuzz(firstText.map((text) => ({ text, [fc.toStringMethod]: () => JSON.stringify(text.length > 400 ? `${text.slice(0, 400)}… (${text.length} chars)` : text) })), FUZZ_MS.jsonFirst, async ({ text }) => {
      runs++;
      const what = () => `first text frame ${JSON.stringify(text.slice(0, 300))} (${text.length} chars)`;
      sending(`ws first text ${JSON.stringify(text.slice(0, 60))}`);
      const res = await firstMessage((ws) => ws.send(text), 'text');
      serverAlive(what());
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const authLike = typeof parsed === 'object' && parsed !== null && (parsed as { t?: unknown }).t === 'auth' && text.includes(token);
      checkFirst(res, Buffer.byteLength(text), authLike, /^\s*\{\s*"t"\s*:\s*"auth"/.test(text.slice(0, 64)), counts, what);
    });
    console.log(`first text frames: ${runs}`, counts);
    expect(runs).toBeGreaterThan(50);
    await checkCost('first text frames');
  }, FUZZ_MS.jsonFirst + 60_000);
});

// ---------------------------------------------------------------------------------------------
// Long-poll bodies

const SESSION_HEADER = 'foony-lp-session';
/** The long-poll send bound: four times --max-payload (CHANGELOG). */
const LP_SEND_BOUND = 4 * MAX_PAYLOAD;
const LP_STATUSES = [200, 204, 400, 410, 413];

interface LpAnswer {
  status: number;
  session: string | null;
  frames: ServerFrame[];
}

/** POST a long-poll request; a refused oversized body may also end in a reset (`status: 0`). */
async function lp(op: 'connect' | 'send' | 'poll' | 'disconnect', body: Uint8Array | undefined, session?: string, timeoutMs = 10_000): Promise<LpAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (session !== undefined) headers[SESSION_HEADER] = session;
  let res: Response;
  try {
    res = await fetch(`${server.http}/lp/${op}`, { method: 'POST', headers, body: body ? Buffer.from(body) : undefined, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    if (body && body.length > (op === 'connect' ? PENDING_MESSAGE_BOUND : LP_SEND_BOUND)) return { status: 0, session: null, frames: [] };
    throw new Error(`POST /lp/${op} failed: ${(err as Error).message}`);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (!LP_STATUSES.includes(res.status)) throw new Error(`POST /lp/${op} answered ${res.status}, not one of ${LP_STATUSES.join(', ')}: ${hex(bytes)}`);
  let frames: ServerFrame[] = [];
  if (bytes.length) {
    if (res.status !== 200) throw new Error(`POST /lp/${op} answered ${res.status} with a body ${hex(bytes)}`);
    try {
      frames = decodeServerRecords(bytes);
    } catch (err) {
      throw new Error(`POST /lp/${op} answered records the client cannot read (${(err as Error).message}): ${hex(bytes)}`);
    }
  }
  return { status: res.status, session: res.headers.get(SESSION_HEADER), frames };
}

async function lpSession(): Promise<string> {
  const res = await lp('connect', encodeClientFrame({ t: 'auth', token }));
  expect(res.frames[0], 'a long-poll connect with a valid auth record').toMatchObject({ t: 'connected' });
  return res.session!;
}

const connectBody: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(null).map(() => encodeClientFrame({ t: 'auth', token })) },
  { weight: 4, arbitrary: fc.array(byteMutation, { minLength: 1, maxLength: 3 }).map((ms) => ms.reduce(mutateBytes, encodeClientFrame({ t: 'auth', token }))) },
  { weight: 4, arbitrary: message.filter((m) => m.length <= 70 * 1024) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_AUTH_FRAME + 1, PENDING_MESSAGE_BOUND, PENDING_MESSAGE_BOUND + 1, 100 * 1024).map((size) => record(1, 0, field('x'.repeat(size - 10)), 0, 0, 0).subarray(0, size)) },
);

describe('long-poll bodies', () => {
  it('POST /lp/connect with random bodies: 200 with connected or one err, 400 when empty, 413 past 64 KiB', async () => {
    await startPart();
    const counts: Record<string, number> = {};
    let runs = 0;
    const real = Buffer.from(token);
    await fuzz(connectBody.map(printable), FUZZ_MS.longPoll / 3, async (body) => {
      runs++;
      const what = () => `POST /lp/connect body ${hex(body)}`;
      sending(`lp connect ${hex(body, 24)}`);
      const res = await lp('connect', body);
      serverAlive(what());
      tally(counts, `status ${res.status}`);
      checkErrs(res.frames, what);
      if (body.length > PENDING_MESSAGE_BOUND) {
        if (res.status !== 413 && res.status !== 0) throw new Error(`${what()}: ${res.status} for a body over ${PENDING_MESSAGE_BOUND} bytes, expected 413`);
        return;
      }
      if (body.length === 0) {
        if (res.status !== 400) throw new Error(`${what()}: ${res.status} for an empty connect, expected 400`);
        return;
      }
      if (res.status !== 200) throw new Error(`${what()}: answered ${res.status}; a handshake is always answered 200`);
      if (res.session) {
        const w = walk(body);
        const authLike = w.records.length === 1 && !w.brokenTail && w.records[0].op === 1 && Buffer.from(body).includes(real);
        if (!authLike) throw new Error(`${what()}: a session for a body that is not one auth record with the real token`);
        if (res.frames[0]?.t !== 'connected') throw new Error(`${what()}: a session without connected first: ${JSON.stringify(res.frames)}`);
        tally(counts, 'accepted');
        await lp('disconnect', undefined, res.session);
        return;
      }
      if (res.frames.length !== 1 || res.frames[0].t !== 'err') throw new Error(`${what()}: a refused handshake must be one err record, got ${JSON.stringify(res.frames)}`);
      tally(counts, `err ${(res.frames[0] as { code: number }).code}`);
    });
    console.log(`/lp/connect: ${runs} bodies`, counts);
    expect(runs).toBeGreaterThan(50);
    expect(counts.accepted ?? 0).toBeGreaterThan(0);
    await checkCost('/lp/connect bodies');
  }, FUZZ_MS.longPoll + 60_000);

  it('POST /lp/send with random records on a live session: 204 (413 past 4× --max-payload), every reply read through /lp/poll', async () => {
    await startPart();
    let session = await lpSession();
    /** As on the WebSocket: after a failed run, start again on a fresh session. */
    let stale = false;
    const counts: Record<string, number> = {};
    let runs = 0;
    /** Poll until `done` holds for what arrived, or the session ends (410). */
    const pollUntil = async (done: (frames: ServerFrame[]) => boolean, what: () => string): Promise<{ frames: ServerFrame[]; ended: boolean }> => {
      const frames: ServerFrame[] = [];
      const deadline = Date.now() + 8000;
      while (!done(frames)) {
        if (Date.now() > deadline) throw new Error(`${what()}: no sentinel reply through /lp/poll; got ${JSON.stringify(frames).slice(0, 600)}`);
        const res = await lp('poll', undefined, session, 9000);
        if (res.status === 410) return { frames, ended: true };
        if (res.status !== 200) throw new Error(`${what()}: /lp/poll answered ${res.status}`);
        frames.push(...res.frames);
      }
      return { frames, ended: false };
    };

    await fuzz(fc.tuple(fc.oneof({ weight: 12, arbitrary: message }, { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) }).map(printable), fc.integer({ min: 0, max: 30 })), (FUZZ_MS.longPoll * 2) / 3, async ([body, roll]) => {
      runs++;
      if (stale) {
        await lp('disconnect', undefined, session);
        session = await lpSession();
      }
      stale = true;
      const what = () => `POST /lp/send body (${summary(body)}) ${hex(body, 300)}`;
      if (roll <= 1) {
        // A send or poll with a made-up session: 410.
        const made = await lp(roll === 1 ? 'poll' : 'send', roll === 1 ? undefined : body.subarray(0, 64), `made-up-${runs}`);
        if (made.status !== 410) throw new Error(`a made-up session got ${made.status}, expected 410`);
        tally(counts, 'made-up session 410');
      }
      sending(`lp send ${body.length} bytes (${summary(body)})`);
      const sent = await lp('send', body, session);
      serverAlive(what());
      tally(counts, `send ${sent.status}`);
      const over = body.length > LP_SEND_BOUND;
      if (over) {
        if (sent.status !== 413 && sent.status !== 0) throw new Error(`${what()}: ${sent.status} for a send over ${LP_SEND_BOUND} bytes, expected 413`);
      } else if (sent.status !== 204) throw new Error(`${what()}: /lp/send answered ${sent.status}, expected 204`);
      // An oversized body is refused unread: the session goes on as if it was never sent.
      const verdict = over ? ({ expectations: [], close: 'never', codes: [], slowConsumer: false } as Verdict) : verdictAuthenticated(body);
      const frames: ServerFrame[] = [];
      const sentinels: number[] = [];
      let ended = false;
      const settle = async () => {
        const sid = sentinelId++;
        sentinels.push(sid);
        const sentinelSend = await lp('send', sentinel(sid), session);
        tally(counts, `sentinel send ${sentinelSend.status}`);
        // Even when the session is closing (410 to the send), what it queued is still delivered to a poll.
        const polled = await pollUntil((fs) => fs.some(isSentinelReply(sid)), what);
        frames.push(...polled.frames);
        ended = polled.ended;
      };
      await settle();
      // Like a socket, a session is ended as a slow consumer only once the replies are queued: look again.
      if (verdict.slowConsumer && !ended) await settle();
      const replies = repliesIn(frames).filter((f) => !sentinels.some((sid) => isSentinelReply(sid)(f)));
      checkErrs(replies, what);
      if (ended && verdict.slowConsumer && verdict.close === 'never') {
        checkReplies(replies, verdict.expectations, true, what);
        tally(counts, 'session ended (many reads)');
        session = await lpSession();
        stale = false;
        return;
      }
      if (ended) {
        if (verdict.close === 'never') throw new Error(`${what()}: the session ended (410); it must go on. Replies: ${JSON.stringify(replies).slice(0, 600)}`);
        // Closing, the server answers with the err of `before` alone, or (no `before`) a prefix of the replies.
        checkReplies(replies, verdict.before ?? verdict.expectations, verdict.before === undefined, what);
        tally(counts, 'session ended');
        session = await lpSession();
        stale = false;
        return;
      }
      if (verdict.close === 'must') throw new Error(`${what()}: the session went on; expected it to end (${verdict.codes.join(' or ')})`);
      checkReplies(replies, verdict.expectations, false, what);
      tallyReplies(counts, replies);
      stale = false;
    });
    await lp('disconnect', undefined, session);
    console.log(`/lp/send: ${runs} bodies`, counts);
    expect(runs).toBeGreaterThan(100);
    expect(counts.ack ?? 0).toBeGreaterThan(20);
    await checkCost('/lp/send bodies');
    await watch.check('long-poll fuzzing');
  }, FUZZ_MS.longPoll + 60_000);
});

it('over the whole fuzz, the server resident memory grew by less than 100 MiB', async () => {
  const w = await probe.window();
  const growth = (w.rssOverallPeak - w.rssFirstBase) / MiB;
  console.log(`whole fuzz: server RSS ${(w.rssFirstBase / MiB).toFixed(0)} MiB at the start, peak +${growth.toFixed(1)} MiB`);
  expect(growth, 'server RSS growth over all parts, MiB').toBeLessThan(MAX_RSS_GROWTH_MIB);
  expect(server.proc.exitCode, 'the server still runs').toBeNull();
});
