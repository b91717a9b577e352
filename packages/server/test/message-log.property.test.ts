import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { HistoryQuery, StoredMessage } from '../src/core/engine.js';
import { MessageLog } from '../src/engine/message-log.js';
import { DedupWindow } from '../src/engine/dedup-window.js';
import { HASH_KEY_BYTES, HalfSipHash } from '../src/engine/keyed-hash.js';
import { bucketCollidingIds } from './dedup-window-collisions.js';

/** What the log must behave like: a plain array of the messages, trimmed the same way. */
class ArrayModel {
  messages: StoredMessage[] = [];
  trim(limit: number, ttlMs: number, now: number): void {
    let drop = Math.max(0, this.messages.length - limit);
    while (drop < this.messages.length && this.messages[drop].timestamp < now - ttlMs) drop++;
    this.messages.splice(0, drop);
  }
  page(q: HistoryQuery) {
    const below = q.before === undefined ? this.messages : this.messages.filter((m) => m.seq! < q.before!);
    const messages = q.direction === 'forwards' ? below.slice(0, q.limit) : below.slice(-q.limit);
    return { messages, more: below.length > q.limit };
  }
}

const op = fc.oneof(
  // Payloads of any size and any text (multi-byte and astral characters included).
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('append' as const), data: fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 600 })), dt: fc.nat(50) }),
  },
  fc.record({ t: fc.constant('trim' as const), limit: fc.integer({ min: 0, max: 40 }), ttl: fc.nat(3000) }),
  fc.record({ t: fc.constant('page' as const), limit: fc.integer({ min: 1, max: 40 }), before: fc.option(fc.nat(200), { nil: undefined }), forwards: fc.boolean() }),
  fc.record({ t: fc.constant('after' as const), seq: fc.integer({ min: -1, max: 200 }) }),
);

describe('MessageLog', () => {
  it('reads back exactly what a plain array would hold, through appends, trims and arena moves', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 400, size: 'max' }), (ops) => {
        const log = new MessageLog();
        const model = new ArrayModel();
        let seq = 0;
        let now = 1_000;
        for (const o of ops) {
          if (o.t === 'append') {
            now += o.dt;
            const m: StoredMessage = { name: 'm', data: { text: o.data }, messageId: `id-${seq}`, clientId: 'c', timestamp: now, seq: ++seq };
            log.append(m);
            model.messages.push(m);
          } else if (o.t === 'trim') {
            log.trim(o.limit, o.ttl, now);
            model.trim(o.limit, o.ttl, now);
          } else if (o.t === 'page') {
            const q: HistoryQuery = { limit: o.limit, before: o.before, direction: o.forwards ? 'forwards' : 'backwards' };
            expect(log.page(q)).toEqual(model.page(q));
          } else {
            expect(log.pageAfter(o.seq)).toEqual({ messages: model.messages.filter((m) => m.seq! > o.seq), more: false });
            // Read in pages of a few messages' bytes, the same messages come back, each page at least one.
            const paged: StoredMessage[] = [];
            for (let from = o.seq; ; ) {
              const page = log.pageAfter(from, 120);
              paged.push(...page.messages);
              if (!page.more) break;
              expect(page.messages.length).toBeGreaterThan(0);
              from = page.messages.at(-1)!.seq!;
            }
            expect(paged).toEqual(model.messages.filter((m) => m.seq! > o.seq));
          }
          expect(log.length).toBe(model.messages.length);
          expect(log.oldestSeq).toBe(model.messages[0]?.seq);
          // After every step, so bytes left behind by a move cannot pass for the real ones.
          expect(log.pageAfter(undefined).messages).toEqual(model.messages);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('DedupWindow', () => {
  it('remembers an id for exactly the window, per channel and client', () => {
    const ids = fc.constantFrom('a', 'b', 'c');
    const step = fc.record({ scope: fc.constantFrom('app/x', 'app/y'), client: fc.constantFrom('alice', 'bob', undefined), id: ids, dt: fc.nat(3_000) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 300, size: 'max' }), fc.integer({ min: 1, max: 10_000 }), (steps, windowMs) => {
        const window = new DedupWindow(windowMs);
        const model = new Map<string, { seq: number; at: number }>();
        let now = 0;
        let seq = 0;
        for (const s of steps) {
          now += s.dt;
          const key = `${s.scope}|${s.client ?? ''}|${s.id}`;
          const known = model.get(key);
          const expected = known && known.at + windowMs > now ? known.seq : undefined;
          expect(window.seen(s.scope, s.client, s.id, now)).toBe(expected);
          if (expected === undefined) {
            window.remember(s.scope, s.client, s.id, ++seq, now);
            model.set(key, { seq, at: now });
          }
          if (s.dt % 7 === 0) window.expire(now);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('still behaves as the model when many ids share a bucket and the window re-keys itself', () => {
    // Ids built against the window's first key (as if it leaked): all share one home slot in
    // every table of up to 1024 slots, so a generation holding more than the probe bound of them
    // forces a re-key. Later keys are fixed too, so a failing run replays exactly.
    const firstKey = new Uint8Array(HASH_KEY_BYTES);
    const first = new HalfSipHash(firstKey);
    const piled = bucketCollidingIds((key) => first.hash(key, 0, key.length), 'app/x', 'alice', 64, 10);
    const step = fc.record({
      piled: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      pick: fc.nat(piled.length - 1),
      other: fc.record({ scope: fc.constantFrom('app/x', 'app/y'), client: fc.constantFrom('alice', 'bob', undefined), id: fc.constantFrom('a', 'b', 'c') }),
      // Time mostly stands still, so one generation gathers more piled ids than the probe bound.
      dt: fc.oneof({ weight: 80, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(3_000) }),
    });
    let rekeyedRuns = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 10, maxLength: 500, size: 'max' }), fc.integer({ min: 1, max: 10_000 }), (steps, windowMs) => {
        let keys = 0;
        const window = new DedupWindow(windowMs, () => (keys++ === 0 ? firstKey : Uint8Array.of(keys, keys >> 8, 1, 2, 3, 4, 5, 6)));
        const model = new Map<string, { seq: number; at: number }>();
        let now = 0;
        let seq = 0;
        for (const s of steps) {
          now += s.dt;
          const { scope, client, id } = s.piled ? { scope: 'app/x', client: 'alice', id: piled[s.pick] } : s.other;
          const key = `${scope}|${client ?? ''}|${id}`;
          const known = model.get(key);
          const expected = known && known.at + windowMs > now ? known.seq : undefined;
          expect(window.seen(scope, client, id, now)).toBe(expected);
          if (expected === undefined) {
            window.remember(scope, client, id, ++seq, now);
            model.set(key, { seq, at: now });
          }
          if (s.dt % 7 === 0 && s.dt > 0) window.expire(now);
        }
        if (keys > 1) rekeyedRuns++;
      }),
      { numRuns: 100 },
    );
    // The property is only worth its name if the re-key path ran.
    expect(rekeyedRuns).toBeGreaterThan(25);
  });
});
