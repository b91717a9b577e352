/**
 * Property-based fuzzing of the frame decoder and session over one live, authenticated socket:
 * random strings, random JSON values, random binary frames, and valid frames of every type with
 * fields dropped, replaced or added. Every frame with a readable numeric id is answered (ack, a
 * typed reply or an err with a documented 4xxxx code), the connection is never closed by a
 * malformed frame, the server never exits, and a bystander still receives messages at the end.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ServerFrame } from '@hubbub/protocol';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { RawClient, closeClients } from '../support/clients.js';
import { DOCUMENTED_CODES, authedRaw, bystander, exchange, sign, type Bystander } from './support.js';

const TIME_LIMIT_MS = 10_000;
const MAX_RUNS = 20_000;

let server: RunningServer;
let watch: Bystander;
let raw: RawClient;
let token: string;

beforeAll(async () => {
  // A high publish rate so the fuzzer reaches the engine rather than the rate limiter.
  server = await startServer(['--publish-rate', '100000']);
  watch = await bystander(server, 'fuzz');
  token = await sign('fuzz', 'fuzzer');
  raw = await authedRaw(server, 'fuzz', 'fuzzer');
});
afterAll(async () => {
  raw?.close();
  closeClients();
  await cleanup(server);
});

// ---- arbitraries ----

const id = fc.integer({ min: 0, max: 1_000_000 });
const channel = fc.oneof(
  fc.constantFrom('fuzz', 'fuzz.a', 'chat:1', 'x', '__proto__', 'constructor', 'a-b_c:d.e'),
  fc.stringMatching(/^[a-z][a-z0-9.:_-]{0,12}[a-z0-9]$/),
);
const weird = fc.constantFrom<unknown>('', '..', 'a..b', '.x', 'x.', 'x'.repeat(300), '__proto__', 'constructor', -1, 1.5, 2 ** 60, '1', [], {}, null, true, 'é', '\u0000');
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer(),
  fc.double(),
  weird,
);
const data = fc.jsonValue({ maxDepth: 3 });
const filter = fc.oneof(
  fc.dictionary(fc.string({ minLength: 0, maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 25 }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.record({ in: fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 110 }) }), { maxKeys: 3 }),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }), { maxKeys: 3 }),
);

/** Valid frames of every client frame type. */
const validFrame: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.constant(null).map(() => ({ t: 'auth', token })),
  fc.record({ t: fc.constant('sub'), id, channel, lastSerial: fc.option(fc.nat({ max: 50 }), { nil: undefined }), epoch: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }) }),
  fc.record({ t: fc.constant('unsub'), id, channel }),
  fc.record({
    t: fc.constant('pub'),
    id,
    channel,
    name: fc.string({ maxLength: 20 }),
    data,
    messageId: fc.string({ minLength: 1, maxLength: 20 }),
    encoding: fc.option(fc.constantFrom('json', 'cipher+aes'), { nil: undefined }),
    ephemeral: fc.option(fc.boolean(), { nil: undefined }),
    messages: fc.option(fc.array(fc.record({ name: fc.string({ maxLength: 10 }), data }), { minLength: 1, maxLength: 5 }), { nil: undefined }),
  }),
  fc.record({ t: fc.constant('pres'), id, channel, action: fc.constantFrom('enter', 'update', 'leave'), data: fc.option(data, { nil: undefined }) }),
  fc.record({ t: fc.constant('presSub'), id, channel }),
  fc.record({ t: fc.constant('presUnsub'), id, channel }),
  fc.record({
    t: fc.constant('hist'),
    id,
    channel,
    limit: fc.option(fc.nat({ max: 2000 }), { nil: undefined }),
    before: fc.option(fc.nat({ max: 100 }), { nil: undefined }),
    direction: fc.option(fc.constantFrom('backwards', 'forwards'), { nil: undefined }),
  }),
  fc.record({ t: fc.constant('fetch'), id, channel, fromSerial: fc.nat({ max: 100 }) }),
  fc.record({ t: fc.constant('tsub'), id, sid: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/), topic: channel, filter: fc.option(filter, { nil: undefined }) }),
  fc.record({ t: fc.constant('tunsub'), id, sid: fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/) }),
  fc.record({ t: fc.constant('dm'), id, to: fc.constantFrom('fuzzer', 'someone', 'bystander-x'), name: fc.string({ maxLength: 20 }), data }),
  fc.record({ t: fc.constant('ping'), id: fc.option(id, { nil: undefined }) }),
);

type Mutation = { op: 'drop' | 'replace' | 'add'; at: number; key: string; value: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('drop', 'replace', 'add'),
  at: fc.nat(),
  key: fc.oneof(fc.constantFrom('t', 'id', 'channel', 'data', 'name', 'messageId', 'filter', 'token', 'key', '__proto__', 'messages'), fc.string({ maxLength: 6 })),
  value: anyValue,
}) as fc.Arbitrary<Mutation>;

function mutate(frame: Record<string, unknown>, mutations: Mutation[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...frame };
  for (const m of mutations) {
    const keys = Object.keys(out);
    if (m.op === 'add' || keys.length === 0) Object.defineProperty(out, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
    else if (m.op === 'drop') delete out[keys[m.at % keys.length]];
    else out[keys[m.at % keys.length]] = m.value;
  }
  return out;
}

type Input = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array };
const input: fc.Arbitrary<Input> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ kind: 'text', text }) as Input) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ kind: 'text', text: JSON.stringify(v) }) as Input) },
  { weight: 1, arbitrary: validFrame.map((f) => ({ kind: 'text', text: JSON.stringify(f) }) as Input) },
  {
    weight: 6,
    arbitrary: fc.tuple(validFrame, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([f, ms]) => ({ kind: 'text', text: JSON.stringify(mutate(f, ms)) }) as Input),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ kind: 'binary', bytes }) as Input) },
);

// ---- the oracle ----

const REPLY_TYPES = new Set(['ack', 'histRes', 'fetchRes', 'pong', 'err']);

/** What the server can read of the frame: mirrors the protocol (an object with a safe, non-negative integer id). */
function readable(text: string): { t?: unknown; id?: number } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const f = v as Record<string, unknown>;
  const reqId = typeof f.id === 'number' && Number.isSafeInteger(f.id) && f.id >= 0 ? f.id : undefined;
  return { t: f.t, id: reqId };
}

function checkErr(f: ServerFrame, what: string): void {
  if (f.t !== 'err') return;
  if (typeof f.code !== 'number' || !DOCUMENTED_CODES.includes(f.code)) throw new Error(`${what}: err with an undocumented code ${JSON.stringify(f)}`);
  if (f.code >= 50000) throw new Error(`${what}: a malformed frame caused a server error ${JSON.stringify(f)}`);
  if (typeof f.message !== 'string') throw new Error(`${what}: err without a message ${JSON.stringify(f)}`);
}

it('survives random and mutated frames on one authenticated connection', async () => {
  let runs = 0;
  const counts: Record<string, number> = {};
  await fc.assert(
    fc.asyncProperty(input, async (inp) => {
      runs++;
      const what = inp.kind === 'text' ? `frame ${JSON.stringify(inp.text.slice(0, 300))}` : `binary frame [${[...inp.bytes].join(',')}]`;
      if (raw.closed) throw new Error(`connection was closed (${raw.closed.code} ${raw.closed.reason}) before ${what}`);
      const got = await exchange(raw, inp.kind === 'text' ? inp.text : Buffer.from(inp.bytes), 3000).catch((err: Error) => {
        throw new Error(`${what}: ${err.message.slice(0, 300)}${raw.closed ? ` (closed ${raw.closed.code} ${raw.closed.reason})` : ''}`);
      });
      for (const f of got) checkErr(f, what);
      if (inp.kind === 'binary') {
        if (!got.some((f) => f.t === 'err' && f.code === 40001)) throw new Error(`${what}: no 40001 for a binary frame, got ${JSON.stringify(got)}`);
        return;
      }
      const frame = readable(inp.text);
      if (frame?.t === 'auth') {
        // Auth is answered by `connected` or an err (auth frames carry no request id).
        if (!got.some((f) => f.t === 'connected' || f.t === 'err')) throw new Error(`${what}: auth not answered, got ${JSON.stringify(got)}`);
        counts.auth = (counts.auth ?? 0) + 1;
        return;
      }
      if (frame?.id !== undefined) {
        const reply = got.find((f) => 'id' in f && f.id === frame.id && REPLY_TYPES.has(f.t));
        if (!reply) throw new Error(`${what}: no reply with id ${frame.id}, got ${JSON.stringify(got).slice(0, 500)}`);
        counts[reply.t === 'err' ? `err ${reply.code}` : reply.t] = (counts[reply.t === 'err' ? `err ${reply.code}` : reply.t] ?? 0) + 1;
      } else {
        // Nothing to correlate: whatever came back must be a coded err (or unrelated deliveries).
        counts['no id'] = (counts['no id'] ?? 0) + 1;
        if (frame?.t !== 'ping' && !got.some((f) => f.t === 'err')) throw new Error(`${what}: no err for a frame without an id, got ${JSON.stringify(got).slice(0, 500)}`);
      }
    }),
    { numRuns: MAX_RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false, endOnFailure: true },
  );
  console.log(`fuzz: ${runs} frames`, counts);
  expect(runs).toBeGreaterThan(200);
  // Successful operations were reached, not only errors.
  expect(counts.ack ?? 0).toBeGreaterThan(10);

  expect(raw.closed, 'the fuzzed connection is still open').toBeUndefined();
  expect(await exchange(raw, { t: 'ping', id: 1 })).toContainEqual({ t: 'pong', id: 1 });
  const pub = await exchange(raw, { t: 'pub', id: 2, channel: 'after-fuzz', name: 'n', data: 1, messageId: `after-${Date.now()}` });
  expect(pub.find((f) => 'id' in f && f.id === 2)).toMatchObject({ t: 'ack' });
  await watch.check('fuzzing');
}, 30_000);
