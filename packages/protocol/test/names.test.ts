import { describe, expect, it } from 'vitest';
import {
  MAX_CHANNEL_NAME_LENGTH,
  assertChannelName,
  assertClientId,
  isValidAppId,
  isValidChannelName,
  isValidClientId,
} from '../src/names.js';
import { HubbubError } from '../src/errors.js';

describe('channel names: [A-Za-z0-9._:-]{1,255}, no leading/trailing ".", no ".."', () => {
  it.each([
    'chat',
    'chat.rooms.42',
    'chat:room-1',
    'a',
    '_',
    ':',
    '-',
    'A.b_C:d-E.9',
    'x'.repeat(255),
    `a.${'b'.repeat(253)}`,
  ])('accepts %s', (name) => {
    expect(isValidChannelName(name)).toBe(true);
    expect(() => assertChannelName(name)).not.toThrow();
  });

  it('the maximum length is 255', () => {
    expect(MAX_CHANNEL_NAME_LENGTH).toBe(255);
    expect(isValidChannelName('x'.repeat(MAX_CHANNEL_NAME_LENGTH))).toBe(true);
    expect(isValidChannelName('x'.repeat(MAX_CHANNEL_NAME_LENGTH + 1))).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'x'.repeat(256)],
    ['leading dot', '.a'],
    ['trailing dot', 'a.'],
    ['only a dot', '.'],
    ['double dot', 'a..b'],
    ['triple dot', 'a...b'],
    ['unicode', 'café'],
    ['space', 'chat room'],
    ['slash', 'chat/room'],
    ['star', 'chat*'],
    ['newline at the end', 'chat\n'],
    ['tab', 'a\tb'],
  ])('rejects %s', (_label, name) => {
    expect(isValidChannelName(name)).toBe(false);
  });

  it.each([undefined, null, 42, {}, ['chat'], true])('rejects the non-string %s', (name) => {
    expect(isValidChannelName(name)).toBe(false);
  });

  it('assertChannelName throws HubbubError 40001 naming the bad value', () => {
    let caught: unknown;
    try {
      assertChannelName('a..b');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HubbubError);
    expect((caught as HubbubError).code).toBe(40001);
    expect((caught as HubbubError).message).toContain('"a..b"');
    expect(() => assertChannelName(7)).toThrow(/\(number\)/);
  });
});

describe('client ids: [A-Za-z0-9._:@+-]{1,128}', () => {
  it.each(['alice', 'user@example.com', 'u+tag', 'a.b:c_d-e', '1', 'x'.repeat(128)])('accepts %s', (id) => {
    expect(isValidClientId(id)).toBe(true);
    expect(() => assertClientId(id)).not.toThrow();
  });

  it.each(['', 'x'.repeat(129), 'a b', 'a/b', 'a\u0000b', 'zoë', 'a*'])('rejects %j', (id) => {
    expect(isValidClientId(id)).toBe(false);
  });

  it.each([undefined, null, 1, {}])('rejects the non-string %s', (id) => {
    expect(isValidClientId(id)).toBe(false);
  });

  it('assertClientId throws HubbubError 40001 with the label it was given', () => {
    expect(() => assertClientId('a b', 'member id')).toThrow(HubbubError);
    expect(() => assertClientId('a b', 'member id')).toThrow(/member id/);
    try {
      assertClientId('');
    } catch (err) {
      expect((err as HubbubError).code).toBe(40001);
    }
  });
});

describe('app ids: [A-Za-z0-9_-]{1,64}', () => {
  it.each(['foony', 'my-app_2', 'A', 'x'.repeat(64)])('accepts %s', (id) => {
    expect(isValidAppId(id)).toBe(true);
  });

  it.each(['', 'x'.repeat(65), 'my.app', 'my:app', 'my/app', 'app@x', 'café', ' app'])('rejects %j', (id) => {
    expect(isValidAppId(id)).toBe(false);
  });

  it.each([undefined, null, 1])('rejects the non-string %s', (id) => {
    expect(isValidAppId(id)).toBe(false);
  });
});
