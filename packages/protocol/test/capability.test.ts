import { describe, expect, it } from 'vitest';
import { allows, assertAllowed, isCapabilitySubset, matchesPattern, parseCapability, type Capability } from '../src/capability.js';
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
