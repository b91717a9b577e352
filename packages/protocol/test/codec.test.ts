import { describe, expect, it } from 'vitest';
import { FrameError, decodeClientFrame, encodeFrame } from '../src/codec.js';
import { ErrorCode, HubbubError } from '../src/errors.js';

const decode = (frame: unknown) => decodeClientFrame(typeof frame === 'string' ? frame : JSON.stringify(frame));

/** Decode and return the FrameError it must throw. */
function rejection(frame: unknown): FrameError {
  try {
    decode(frame);
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError);
    expect(err).toBeInstanceOf(HubbubError);
    return err as FrameError;
  }
  throw new Error(`expected ${JSON.stringify(frame)} to be rejected`);
}

describe('decodeClientFrame: every frame type', () => {
  it('auth, with only the fields that were given', () => {
    expect(decode({ t: 'auth', token: 'jwt' })).toEqual({ t: 'auth', token: 'jwt' });
    expect(decode({ t: 'auth', key: 'app.k:secret', clientId: 'alice', resumeConnectionId: 'c1', echo: false })).toEqual({
      t: 'auth',
      key: 'app.k:secret',
      clientId: 'alice',
      resumeConnectionId: 'c1',
      echo: false,
    });
  });

  it('auth ignores echo: true (echo is the default)', () => {
    expect(decode({ t: 'auth', token: 'x', echo: true })).toEqual({ t: 'auth', token: 'x' });
  });

  it('sub, with and without a resume cursor', () => {
    expect(decode({ t: 'sub', id: 1, channel: 'chat' })).toEqual({ t: 'sub', id: 1, channel: 'chat' });
    expect(decode({ t: 'sub', id: 2, channel: 'chat', lastSerial: 0, epoch: 'e1' })).toEqual({
      t: 'sub',
      id: 2,
      channel: 'chat',
      lastSerial: 0,
      epoch: 'e1',
    });
  });

  it.each(['unsub', 'presSub', 'presUnsub'] as const)('%s', (t) => {
    expect(decode({ t, id: 7, channel: 'chat:room-1' })).toEqual({ t, id: 7, channel: 'chat:room-1' });
  });

  it('pub with name and data', () => {
    expect(decode({ t: 'pub', id: 3, channel: 'chat', name: 'msg', data: { text: 'hi' }, messageId: 'm-1' })).toEqual({
      t: 'pub',
      id: 3,
      channel: 'chat',
      name: 'msg',
      data: { text: 'hi' },
      messageId: 'm-1',
    });
  });

  it('pub with encoding and ephemeral', () => {
    const frame = decode({ t: 'pub', id: 3, channel: 'c', name: 'n', data: 'x', messageId: 'm', encoding: 'cipher', ephemeral: true });
    expect(frame).toMatchObject({ t: 'pub', encoding: 'cipher', ephemeral: true });
  });

  it('pub batch: messages replace name/data, each member keeps only name, data and encoding', () => {
    const frame = decode({
      t: 'pub',
      id: 4,
      channel: 'c',
      messageId: 'batch-1',
      messages: [
        { name: 'a', data: 1 },
        { name: 'b', data: [2], encoding: 'e', extra: 'dropped' },
      ],
    });
    expect(frame).toEqual({
      t: 'pub',
      id: 4,
      channel: 'c',
      name: '',
      messageId: 'batch-1',
      messages: [
        { name: 'a', data: 1 },
        { name: 'b', data: [2], encoding: 'e' },
      ],
    });
  });

  it.each(['enter', 'update', 'leave'] as const)('pres %s', (action) => {
    expect(decode({ t: 'pres', id: 5, channel: 'room', action, data: { status: 'away' } })).toEqual({
      t: 'pres',
      id: 5,
      channel: 'room',
      action,
      data: { status: 'away' },
    });
  });

  it('hist, defaults and both directions', () => {
    expect(decode({ t: 'hist', id: 6, channel: 'c' })).toEqual({ t: 'hist', id: 6, channel: 'c' });
    expect(decode({ t: 'hist', id: 6, channel: 'c', limit: 10, before: 50, direction: 'backwards' })).toEqual({
      t: 'hist',
      id: 6,
      channel: 'c',
      limit: 10,
      before: 50,
      direction: 'backwards',
    });
    expect(decode({ t: 'hist', id: 6, channel: 'c', direction: 'forwards' })).toMatchObject({ direction: 'forwards' });
  });

  it('fetch', () => {
    expect(decode({ t: 'fetch', id: 8, channel: 'c', fromSerial: 0 })).toEqual({ t: 'fetch', id: 8, channel: 'c', fromSerial: 0 });
  });

  it('ping, with or without an id', () => {
    expect(decode({ t: 'ping', id: 9 })).toEqual({ t: 'ping', id: 9 });
    expect(decode({ t: 'ping' })).toEqual({ t: 'ping' });
  });
});

describe('decodeClientFrame: rejections are FrameError 40001', () => {
  it('malformed JSON, without a request id', () => {
    for (const text of ['', '{', '{"t":"sub",}', 'not json']) {
      const err = rejection(text);
      expect(err.code).toBe(ErrorCode.BadFrame);
      expect(err.code).toBe(40001);
      expect(err.statusCode).toBe(400);
      expect(err.requestId).toBeUndefined();
    }
  });

  it.each([['null'], ['42'], ['"sub"'], ['true'], ['[{"t":"sub","id":1,"channel":"c"}]']])('non-object %s', (text) => {
    const err = rejection(text);
    expect(err.code).toBe(40001);
    expect(err.requestId).toBeUndefined();
  });

  it('unknown or missing t, carrying the request id', () => {
    const unknown = rejection({ t: 'subscribe', id: 11, channel: 'c' });
    expect(unknown.code).toBe(40001);
    expect(unknown.requestId).toBe(11);
    expect(unknown.message).toContain('subscribe');

    const missing = rejection({ id: 12 });
    expect(missing.code).toBe(40001);
    expect(missing.requestId).toBe(12);

    const notString = rejection({ t: 5, id: 13 });
    expect(notString.requestId).toBe(13);
  });

  it.each(['sub', 'unsub', 'pub', 'pres', 'presSub', 'presUnsub', 'hist', 'fetch'])('%s without a usable id', (t) => {
    for (const id of [undefined, '1', -1, 1.5, null]) {
      const err = rejection({ t, id, channel: 'c', name: 'n', messageId: 'm', action: 'enter', fromSerial: 0 });
      expect(err.code).toBe(40001);
      expect(err.requestId).toBeUndefined();
    }
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['a number', 42],
    ['leading dot', '.chat'],
    ['trailing dot', 'chat.'],
    ['double dot', 'chat..room'],
    ['space', 'chat room'],
    ['slash', 'chat/room'],
    ['unicode', 'café'],
    ['256 characters', 'a'.repeat(256)],
  ])('bad channel name (%s) on every channel frame, with the request id', (_label, channel) => {
    for (const t of ['sub', 'unsub', 'pub', 'pres', 'presSub', 'presUnsub', 'hist', 'fetch']) {
      const err = rejection({ t, id: 21, channel, name: 'n', messageId: 'm', action: 'enter', fromSerial: 0 });
      expect(err.code).toBe(40001);
      expect(err.requestId).toBe(21);
    }
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['a number', 7],
    ['129 characters', 'm'.repeat(129)],
  ])('bad messageId (%s)', (_label, messageId) => {
    const err = rejection({ t: 'pub', id: 31, channel: 'c', name: 'n', data: 1, messageId });
    expect(err.code).toBe(40001);
    expect(err.requestId).toBe(31);
  });

  it('accepts a messageId of exactly 128 characters', () => {
    expect(decode({ t: 'pub', id: 1, channel: 'c', name: 'n', messageId: 'm'.repeat(128) })).toMatchObject({ messageId: 'm'.repeat(128) });
  });

  it('pub without a name (and no batch)', () => {
    expect(rejection({ t: 'pub', id: 32, channel: 'c', data: 1, messageId: 'm' }).requestId).toBe(32);
  });

  it.each([
    ['not an array', { name: 'a' }],
    ['empty', []],
    ['over 100', Array.from({ length: 101 }, () => ({ name: 'a' }))],
    ['member without name', [{ data: 1 }]],
    ['member not an object', ['a']],
    ['member with non-string encoding', [{ name: 'a', encoding: 1 }]],
  ])('bad batch (%s)', (_label, messages) => {
    const err = rejection({ t: 'pub', id: 33, channel: 'c', messageId: 'm', messages });
    expect(err.code).toBe(40001);
    expect(err.requestId).toBe(33);
  });

  it.each([undefined, 'join', 'ENTER', 1])('bad presence action %s', (action) => {
    const err = rejection({ t: 'pres', id: 41, channel: 'c', action });
    expect(err.code).toBe(40001);
    expect(err.requestId).toBe(41);
  });

  it.each(['back', 'BACKWARDS', 1, null])('bad history direction %s', (direction) => {
    const err = rejection({ t: 'hist', id: 51, channel: 'c', direction });
    expect(err.code).toBe(40001);
    expect(err.requestId).toBe(51);
  });

  it.each([
    ['hist limit', { t: 'hist', limit: -1 }],
    ['hist before', { t: 'hist', before: 'x' }],
    ['sub lastSerial', { t: 'sub', lastSerial: 1.5 }],
    ['sub epoch', { t: 'sub', epoch: 1 }],
    ['fetch fromSerial missing', { t: 'fetch' }],
    ['pub encoding', { t: 'pub', name: 'n', messageId: 'm', encoding: 5 }],
  ])('bad field type (%s)', (_label, fields) => {
    const err = rejection({ id: 61, channel: 'c', ...fields });
    expect(err.code).toBe(40001);
    expect(err.requestId).toBe(61);
  });

  it('auth with a non-string token', () => {
    const err = rejection({ t: 'auth', token: 123 });
    expect(err.code).toBe(40001);
  });
});

describe('encodeFrame', () => {
  it('encodes server frames as JSON text', () => {
    const text = encodeFrame({ t: 'ack', id: 1, seq: 5 });
    expect(JSON.parse(text)).toEqual({ t: 'ack', id: 1, seq: 5 });
  });

  it('round-trips client frames through decodeClientFrame', () => {
    const frames = [
      { t: 'sub', id: 1, channel: 'chat.rooms.42', lastSerial: 3, epoch: 'e' },
      { t: 'pub', id: 2, channel: 'chat:room-1', name: 'msg', data: { a: [1, 2] }, messageId: 'm1' },
      { t: 'pres', id: 3, channel: 'room', action: 'update', data: 'busy' },
      { t: 'hist', id: 4, channel: 'room', limit: 20, direction: 'forwards' },
      { t: 'ping', id: 5 },
    ] as const;
    for (const frame of frames) expect(decodeClientFrame(encodeFrame(frame))).toEqual(frame);
  });
});
