import { describe, expect, it } from 'vitest';
import {
  MAX_CAPABILITY_PATTERNS,
  MAX_OPERATIONS_PER_PATTERN,
  MAX_PATTERN_LENGTH,
  MAX_PATTERN_WILDCARDS,
  allows,
  assertAllowed,
  isCapabilitySubset,
  matchesPattern,
  parseCapability,
  type Capability,
} from '../src/capability.js';
import { HubbubError } from '../src/errors.js';

function thrown(fn: () => unknown): HubbubError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HubbubError);
    return err as HubbubError;
  }
  throw new Error('expected a throw');
}

describe('parseCapability', () => {
  const cap = { 'chat:*': ['subscribe', 'publish'], 'status': ['*'] };

  it('accepts an object', () => {
    expect(parseCapability(cap)).toEqual(cap);
  });

  it('accepts its JSON text', () => {
    expect(parseCapability(JSON.stringify(cap))).toEqual(cap);
  });

  it('accepts an empty capability (grants nothing)', () => {
    expect(parseCapability({})).toEqual({});
    expect(parseCapability('{}')).toEqual({});
  });

  it.each([
    ['invalid JSON', '{"chat":'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 5],
    ['an array', [['chat', ['subscribe']]]],
    ['JSON of an array', '["subscribe"]'],
    ['JSON of a string', '"chat"'],
    ['operations not an array', { chat: 'subscribe' }],
    ['unknown operation', { chat: ['subscribe', 'launch'] }],
    ['non-string operation', { chat: [1] }],
  ])('rejects %s with 40001', (_label, input) => {
    const err = thrown(() => parseCapability(input));
    expect(err.code).toBe(40001);
    expect(err.statusCode).toBe(400);
  });
});

describe('parseCapability with allowUnknownOperations (Foony tokens)', () => {
  it('knows history, and keeps operation names it does not know', () => {
    expect(parseCapability({ chat: ['history'] })).toEqual({ chat: ['history'] });
    const cap = { 'chat:*': ['subscribe', 'channel-metadata'] };
    expect(parseCapability(JSON.stringify(cap), { allowUnknownOperations: true })).toEqual(cap);
  });

  it.each([
    ['a non-string operation', { chat: [1] }],
    ['an empty operation name', { chat: [''] }],
    ['operations not an array', { chat: 'subscribe' }],
    ['an array', ['subscribe']],
  ])('still rejects %s with 40001', (_label, input) => {
    expect(thrown(() => parseCapability(input, { allowUnknownOperations: true })).code).toBe(40001);
  });
});

describe('allows / assertAllowed', () => {
  const cap: Capability = { 'chat:*': ['subscribe', 'publish'], 'status': ['*'] };

  it('no capability means everything is allowed', () => {
    expect(allows(undefined, 'admin', 'publish')).toBe(true);
    expect(() => assertAllowed(undefined, 'anything', 'presence')).not.toThrow();
  });

  it('an empty capability allows nothing', () => {
    expect(allows({}, 'chat', 'subscribe')).toBe(false);
  });

  it('chat:* allows chat:room-1 but not admin', () => {
    expect(allows(cap, 'chat:room-1', 'subscribe')).toBe(true);
    expect(allows(cap, 'chat:room-1', 'publish')).toBe(true);
    expect(allows(cap, 'admin', 'subscribe')).toBe(false);
  });

  it('only the listed operations are granted', () => {
    expect(allows(cap, 'chat:room-1', 'presence')).toBe(false);
  });

  it('"*" as an operation grants all three', () => {
    for (const op of ['subscribe', 'publish', 'presence'] as const) expect(allows(cap, 'status', op)).toBe(true);
  });

  it('"*" as a pattern matches every channel', () => {
    expect(allows({ '*': ['subscribe'] }, 'any.channel:at-all', 'subscribe')).toBe(true);
    expect(allows({ '*': ['subscribe'] }, 'any', 'publish')).toBe(false);
  });

  it('grants add up across patterns', () => {
    const two: Capability = { 'chat:*': ['subscribe'], 'chat:room-1': ['publish'] };
    expect(allows(two, 'chat:room-1', 'publish')).toBe(true);
    expect(allows(two, 'chat:room-2', 'publish')).toBe(false);
  });

  it('history comes with subscribe or with history itself, and grants nothing else', () => {
    expect(allows({ chat: ['subscribe'] }, 'chat', 'history')).toBe(true);
    expect(allows({ chat: ['history'] }, 'chat', 'history')).toBe(true);
    expect(allows({ chat: ['history'] }, 'chat', 'subscribe')).toBe(false);
    expect(allows({ chat: ['publish'] }, 'chat', 'history')).toBe(false);
  });

  it('given several operations, any one of them will do', () => {
    expect(allows({ chat: ['presence'] }, 'chat', ['presence', 'subscribe'])).toBe(true);
    expect(allows({ chat: ['publish'] }, 'chat', ['presence', 'subscribe'])).toBe(false);
    expect(thrown(() => assertAllowed({ chat: ['publish'] }, 'chat', ['presence', 'subscribe'])).message).toContain('presence or subscribe');
  });

  it('an unknown operation grants nothing', () => {
    expect(allows({ chat: ['launch'] }, 'chat', 'subscribe')).toBe(false);
  });

  it('assertAllowed throws 40301 (403) naming the operation and channel', () => {
    const err = thrown(() => assertAllowed(cap, 'admin', 'publish'));
    expect(err.code).toBe(40301);
    expect(err.statusCode).toBe(403);
    expect(err.message).toContain('publish');
    expect(err.message).toContain('"admin"');
    expect(() => assertAllowed(cap, 'chat:room-1', 'publish')).not.toThrow();
  });
});

describe('matchesPattern', () => {
  it.each([
    ['chat', 'chat', true],
    ['chat', 'chat2', false],
    ['chat', 'cha', false],
    ['*', 'anything', true],
    ['chat:*', 'chat:room-1', true],
    ['chat:*', 'chat:', true],
    ['chat:*', 'chat', false],
    ['chat:*', 'admin', false],
    ['chat:*', 'xchat:room', false],
    ['*.public', 'news.public', true],
    ['*.public', 'news.private', false],
    ['a*c', 'abc', true],
    ['a*c', 'abcd', false],
  ])('%s vs %s → %s', (pattern, channel, expected) => {
    expect(matchesPattern(pattern, channel)).toBe(expected);
  });

  it('treats regex characters in patterns literally', () => {
    expect(matchesPattern('chat.*', 'chat.room')).toBe(true);
    expect(matchesPattern('chat.*', 'chatXroom')).toBe(false);
    expect(matchesPattern('a.b', 'aXb')).toBe(false);
  });
});

describe('isCapabilitySubset', () => {
  const parent: Capability = { 'chat:*': ['subscribe', 'publish'], 'status': ['*'] };

  it('anything is a subset of no capability (unrestricted)', () => {
    expect(isCapabilitySubset({ '*': ['*'] }, undefined)).toBe(true);
  });

  it('narrower channels and operations are a subset', () => {
    expect(isCapabilitySubset({ 'chat:room-1': ['subscribe'] }, parent)).toBe(true);
    expect(isCapabilitySubset({ 'chat:*': ['publish'] }, parent)).toBe(true);
    expect(isCapabilitySubset({ 'status': ['presence'] }, parent)).toBe(true);
    expect(isCapabilitySubset({ 'status': ['*'] }, parent)).toBe(true);
    expect(isCapabilitySubset({}, parent)).toBe(true);
  });

  it('an extra operation is not a subset', () => {
    expect(isCapabilitySubset({ 'chat:room-1': ['presence'] }, parent)).toBe(false);
  });

  it('"*" operation is not a subset of a listed set', () => {
    expect(isCapabilitySubset({ 'chat:room-1': ['*'] }, parent)).toBe(false);
  });

  it('a channel outside the parent is not a subset', () => {
    expect(isCapabilitySubset({ admin: ['subscribe'] }, parent)).toBe(false);
  });

  it('history is a subset of subscribe; an unknown operation only of itself or "*"', () => {
    expect(isCapabilitySubset({ 'chat:room-1': ['history'] }, parent)).toBe(true);
    expect(isCapabilitySubset({ 'chat:room-1': ['subscribe'] }, { 'chat:*': ['history'] })).toBe(false);
    expect(isCapabilitySubset({ 'chat:room-1': ['launch'] }, parent)).toBe(false);
    expect(isCapabilitySubset({ 'chat:room-1': ['launch'] }, { 'chat:*': ['launch'] })).toBe(true);
    expect(isCapabilitySubset({ 'status': ['launch'] }, parent)).toBe(true);
  });

  it('a wider pattern is not a subset', () => {
    expect(isCapabilitySubset({ '*': ['subscribe'] }, parent)).toBe(false);
    expect(isCapabilitySubset({ 'chat*': ['subscribe'] }, parent)).toBe(false);
  });
});

describe('parseCapability bounds', () => {
  it('are the documented sizes', () => {
    expect(MAX_PATTERN_LENGTH).toBe(255);
    expect(MAX_PATTERN_WILDCARDS).toBe(8);
    expect(MAX_CAPABILITY_PATTERNS).toBe(64);
    expect(MAX_OPERATIONS_PER_PATTERN).toBeGreaterThanOrEqual(8);
  });

  it('accepts a capability at every bound', () => {
    const atBounds: Capability = {};
    atBounds[`${'a*'.repeat(MAX_PATTERN_WILDCARDS)}`.padEnd(MAX_PATTERN_LENGTH, 'x')] = ['subscribe'];
    for (let i = 1; i < MAX_CAPABILITY_PATTERNS; i++) atBounds[`chat:${i}`] = ['subscribe'];
    expect(parseCapability(atBounds)).toEqual(atBounds);
    const ops = Array.from({ length: MAX_OPERATIONS_PER_PATTERN }, (_, i) => `op-${i}`);
    expect(parseCapability({ chat: ops }, { allowUnknownOperations: true })).toEqual({ chat: ops });
  });

  it.each([
    ['a pattern longer than 255 characters', { ['c'.repeat(MAX_PATTERN_LENGTH + 1)]: ['subscribe'] }, 'MAX_PATTERN_LENGTH'],
    ['a pattern with 9 wildcards', { [`chat:${'a*'.repeat(MAX_PATTERN_WILDCARDS + 1)}b`]: ['subscribe'] }, 'MAX_PATTERN_WILDCARDS'],
    [
      'more than 64 patterns',
      Object.fromEntries(Array.from({ length: MAX_CAPABILITY_PATTERNS + 1 }, (_, i) => [`chat:${i}`, ['subscribe']])),
      'MAX_CAPABILITY_PATTERNS',
    ],
    [
      'too many operations on one pattern',
      { chat: Array.from({ length: MAX_OPERATIONS_PER_PATTERN + 1 }, () => 'subscribe') },
      'MAX_OPERATIONS_PER_PATTERN',
    ],
  ])('refuses %s with 40001 naming the bound', (_label, input, bound) => {
    for (const options of [{}, { allowUnknownOperations: true }]) {
      for (const form of [input, JSON.stringify(input)]) {
        const err = thrown(() => parseCapability(form, options));
        expect(err.code).toBe(40001);
        expect(err.message).toContain(bound);
      }
    }
  });

  it('refuses a 10 000-character pattern of 5000 wildcards at once', () => {
    const hostile = { ['a*'.repeat(5000)]: ['subscribe'] };
    const started = performance.now();
    expect(thrown(() => parseCapability(hostile)).code).toBe(40001);
    expect(thrown(() => parseCapability(JSON.stringify(hostile), { allowUnknownOperations: true })).code).toBe(40001);
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('isCapabilitySubset: glob containment', () => {
  const sub = (child: string, parent: string) => isCapabilitySubset({ [child]: ['subscribe'] }, { [parent]: ['subscribe'] });

  it.each([
    ['chat:*', '*'],
    ['chat:room-*', 'chat:*'],
    ['chat:a*b', 'chat:*'],
    ['chat:room-1', 'chat:room-*'],
    [`chat:${'a*'.repeat(8)}b`, 'chat:*'],
  ])('%s is within %s', (child, parent) => {
    expect(sub(child, parent)).toBe(true);
  });

  it.each([
    ['chat:*', 'chat:room-*'],
    ['*', 'chat:*'],
    ['chat*', 'chat:*'],
    ['ch*', 'chat:*'],
    ['chat:*', 'chat:*:x'],
  ])('%s is not within %s', (child, parent) => {
    expect(sub(child, parent)).toBe(false);
  });
});
