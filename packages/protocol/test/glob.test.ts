import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_CAPABILITY_PATTERNS,
  MAX_PATTERN_WILDCARDS,
  allows,
  isCapabilitySubset,
  matchesPattern,
  parseCapability,
  type Capability,
  type Operation,
} from '../src/capability.js';

/** The textbook dynamic-programming glob matcher (`*` = any run of characters): slow, obviously right. */
function referenceMatch(pattern: string, text: string): boolean {
  // at[j]: pattern[0..i) matches text[0..j).
  let at = new Array<boolean>(text.length + 1).fill(false);
  at[0] = true;
  for (const p of pattern) {
    const next = new Array<boolean>(text.length + 1).fill(false);
    if (p === '*') {
      let reached = false;
      for (let j = 0; j <= text.length; j++) next[j] = reached = reached || at[j];
    } else {
      for (let j = 1; j <= text.length; j++) next[j] = at[j - 1] && text[j - 1] === p;
    }
    at = next;
  }
  return at[text.length];
}

/** A small alphabet, so random patterns and strings meet often. */
const letter = fc.constantFrom('a', 'b', ':', '.');
const text = fc.array(letter, { maxLength: 12 }).map((cs) => cs.join(''));
const pattern = fc.array(fc.oneof(letter, fc.constant('*')), { maxLength: 9 }).map((cs) => cs.join(''));

describe('glob matching (matchesPattern)', () => {
  it('agrees with a dynamic-programming reference on random patterns and strings', () => {
    fc.assert(
      fc.property(pattern, text, (p, t) => {
        expect(matchesPattern(p, t)).toBe(referenceMatch(p, t));
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with the reference on strings built from the pattern itself', () => {
    // Random strings rarely match a pattern with many literals; fill its wildcards instead.
    const filled = pattern.chain((p) =>
      fc.tuple(fc.constant(p), fc.array(text, { minLength: p.length + 1, maxLength: p.length + 1 }), fc.boolean()),
    );
    fc.assert(
      fc.property(filled, ([p, fills, mutate]) => {
        let t = p.split('*').reduce((acc, seg, i) => (i === 0 ? seg : acc + fills[i] + seg), '');
        if (mutate && t.length > 0) t = t.slice(0, -1);
        expect(matchesPattern(p, t)).toBe(referenceMatch(p, t));
      }),
      { numRuns: 5000 },
    );
  });

  it('"*" crosses ":" and "." and matches the empty run', () => {
    expect(matchesPattern('chat:*', 'chat:a.b:c')).toBe(true);
    expect(matchesPattern('a**b', 'ab')).toBe(true);
    expect(matchesPattern('*a*a*', 'aa')).toBe(true);
    expect(matchesPattern('*a*a*', 'a')).toBe(false);
    expect(matchesPattern('ab*ba', 'aba')).toBe(false);
    expect(matchesPattern('', '')).toBe(true);
  });
});

describe('glob matching: time', () => {
  // On the old RegExp matcher this never returns (catastrophic backtracking): run the file with a timeout.
  it('8 wildcards against an adversarial 255-character name take well under a millisecond', () => {
    const hostile = `chat:${'a*'.repeat(8)}b`;
    const name = `chat:${'a'.repeat(250)}`;
    expect(matchesPattern(hostile, name)).toBe(false);
    const rounds = 1000;
    const started = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) matchesPattern(hostile, name);
    const perMatchMs = Number(process.hrtime.bigint() - started) / 1e6 / rounds;
    expect(perMatchMs).toBeLessThan(0.1);
  });

  it('allows() with such a pattern answers at once', () => {
    const cap: Capability = { [`chat:${'a*'.repeat(8)}b`]: ['subscribe'] };
    const started = performance.now();
    expect(allows(cap, `chat:${'a'.repeat(250)}`, 'subscribe')).toBe(false);
    expect(allows(cap, `chat:${'a'.repeat(249)}b`, 'subscribe')).toBe(true);
    expect(performance.now() - started).toBeLessThan(5);
  });

  it('the subset check of two capabilities at every bound stays in milliseconds (it runs on each key-token verify)', () => {
    const child: Capability = {};
    const parent: Capability = { '*': ['subscribe', 'publish'] };
    for (let i = 0; i < MAX_CAPABILITY_PATTERNS - 1; i++) {
      child[`${'a'.repeat(30)}*`.repeat(MAX_PATTERN_WILDCARDS).padEnd(254 - String(i).length, 'a') + `${i}c`] = ['subscribe', 'publish'];
      parent[`${`*${'a'.repeat(29)}b`.repeat(MAX_PATTERN_WILDCARDS - 1)}${i}*`] = ['presence'];
    }
    parseCapability(child);
    parseCapability(parent);
    const started = performance.now();
    expect(isCapabilitySubset(child, parent)).toBe(true);
    expect(isCapabilitySubset({ ...child, x: ['presence'] }, parent)).toBe(false);
    expect(performance.now() - started).toBeLessThan(50);
  });
});

const OPERATIONS: Operation[] = ['subscribe', 'publish', 'presence', 'history'];
const grant = fc.subarray(['subscribe', 'publish', 'presence', 'history', '*', 'launch'], { minLength: 1 });
const capability = fc.dictionary(pattern, grant, { minKeys: 1, maxKeys: 3 }) as fc.Arbitrary<Capability>;

/** Channels the child's patterns are most likely to reach: each wildcard filled with text or another pattern's literals. */
function adversarialChannels(child: Capability, parent: Capability, fills: string[]): string[] {
  const pieces = [...Object.keys(child), ...Object.keys(parent)].flatMap((p) => p.split('*'));
  const out: string[] = [];
  for (const p of Object.keys(child)) {
    const segments = p.split('*');
    for (let k = 0; k < fills.length; k++) {
      out.push(segments.reduce((acc, seg, i) => (i === 0 ? seg : acc + fills[(k + i) % fills.length] + seg), ''));
      out.push(segments.reduce((acc, seg, i) => (i === 0 ? seg : acc + pieces[(k + i) % pieces.length] + seg), ''));
    }
  }
  return out;
}

describe('isCapabilitySubset is sound', () => {
  it('whatever a contained child allows, the parent allows too', () => {
    fc.assert(
      fc.property(capability, capability, fc.array(text, { minLength: 1, maxLength: 6 }), (child, parent, fills) => {
        fc.pre(isCapabilitySubset(child, parent));
        for (const channel of [...fills, ...adversarialChannels(child, parent, fills)]) {
          for (const op of OPERATIONS) {
            if (allows(child, channel, op)) expect(allows(parent, channel, op), `${op} on ${JSON.stringify(channel)}`).toBe(true);
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('patterns derived from the parent are checked too (so the property meets many true subsets)', () => {
    // Narrow a parent pattern by filling some of its wildcards: the result is contained, and must be found so.
    const derived = fc
      .tuple(pattern, fc.array(fc.oneof(text, fc.constant('*'), text.map((t) => `${t}*`)), { minLength: 10, maxLength: 10 }))
      .map(([p, fills]) => ({ parent: p, child: p.split('*').reduce((acc, seg, i) => (i === 0 ? seg : acc + fills[i % 10] + seg), '') }));
    fc.assert(
      fc.property(derived, ({ parent, child }) => {
        expect(isCapabilitySubset({ [child]: ['subscribe'] }, { [parent]: ['subscribe'] })).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('a pattern is not within one whose literal characters would have to match its wildcard', () => {
    // The parent's "b" would have to stand for the child's "*": the child allows "chat:x", the parent does not.
    expect(isCapabilitySubset({ 'chat:*': ['subscribe'] }, { 'chat:*b': ['subscribe'] })).toBe(false);
    expect(isCapabilitySubset({ 'a*c': ['subscribe'] }, { 'a*b*c': ['subscribe'] })).toBe(false);
    expect(isCapabilitySubset({ 'a*b*c': ['subscribe'] }, { 'a*c': ['subscribe'] })).toBe(true);
    expect(isCapabilitySubset({ 'chat:**': ['subscribe'] }, { 'chat:*': ['subscribe'] })).toBe(true);
  });

  it('each operation needs one parent pattern that contains the child pattern and grants it', () => {
    const parent: Capability = { 'chat:*': ['subscribe'], 'chat:room-1': ['publish'] };
    expect(isCapabilitySubset({ 'chat:room-1': ['subscribe', 'publish'] }, parent)).toBe(true);
    expect(isCapabilitySubset({ 'chat:room-*': ['subscribe', 'publish'] }, parent)).toBe(false);
  });
});
