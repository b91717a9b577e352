/** Client → server records, decoded on the server (src/binary/client-decode.ts). */
import { describe, expect, it } from 'vitest';
import { decodeClientRecords, decodeServerRecords, encodeClientFrame } from '../src/binary/index.js';
import { FrameError } from '../src/codec.js';
import type { ClientFrame } from '../src/frames.js';
import { bytes, clientExamples, concat, field, frameError, hexOf, hubbubClientFrame, only, record, varint } from './binary-examples.js';

describe('zero means absent', () => {
  it('auth: empty strings are absent', () => {
    expect(only(decodeClientRecords(record(0x01, 0x00, 0x00, 0x00, 0x00, 0x00)))).toStrictEqual({
      t: 'auth',
      token: undefined,
      key: undefined,
      clientId: undefined,
      resumeConnectionId: undefined,
      echo: undefined,
    });
  });

  it('hist: limit 0 and before 0 are absent (server default / newest)', () => {
    expect(only(decodeClientRecords(record(0x08, 0x01, 0x00, ...field('c'), 0x00)))).toStrictEqual({
      t: 'hist',
      id: 1,
      channel: 'c',
      limit: undefined,
      before: undefined,
      direction: undefined,
    });
  });

  it('pub: empty encoding is absent; zero-length data is undefined, the 4 bytes null are null', () => {
    const single = (data: number[]) => record(0x04, 0x00, 0x02, ...field('c'), ...field('n'), ...data, 0x00, ...field('m'), 0x00, 0x00);
    expect(only(decodeClientRecords(single([0x00])))).toStrictEqual({
      t: 'pub',
      id: 2,
      channel: 'c',
      name: 'n',
      data: undefined,
      messageId: 'm',
      encoding: undefined,
      messages: undefined,
      ephemeral: undefined,
    });
    expect(only(decodeClientRecords(single(field('null'))))).toMatchObject({ data: null });
  });

  it('pres: zero-length data is undefined', () => {
    const decoded = only(decodeClientRecords(record(0x05, 0x02, 0x07, ...field('c'), 0x00, 0x00)));
    expect(decoded).toStrictEqual({ t: 'pres', id: 7, channel: 'c', action: 'leave', data: undefined, encoding: undefined });
  });

  it('pres update with data null', () => {
    expect(only(decodeClientRecords(record(0x05, 0x03, 0x07, ...field('c'), ...field('null'), 0x00)))).toMatchObject({
      action: 'update',
      data: null,
    });
  });
});

describe('pub batches', () => {
  const batch = (id: number, count: number) => {
    const members: number[] = [];
    for (let i = 0; i < count; i++) members.push(...field('e'), ...field(String(i)), 0x00);
    return record(0x04, 0x00, id, ...field('c'), 0x00, ...field('null'), 0x00, ...field('b-1'), 0x00, ...varint(count), ...members);
  };

  it('up to 1000 members', () => {
    const decoded = only(decodeClientRecords(batch(3, 1000)));
    expect(decoded).not.toBeInstanceOf(FrameError);
    const pub = decoded as Extract<ClientFrame, { t: 'pub' }>;
    expect(pub.messages).toHaveLength(1000);
    expect(pub.messages![999]).toEqual({ name: 'e', data: 999 });
    expect(pub.name).toBe('');
    expect(pub.data).toBeUndefined();
    // Re-encodes to the same bytes (top-level "", null, "").
    expect(hexOf(encodeClientFrame(pub))).toBe(hexOf(batch(3, 1000)));
  });

  it('1001 members is refused with the request id', () => {
    const err = frameError(only(decodeClientRecords(batch(3, 1001))));
    expect(err.requestId).toBe(3);
    expect(err.message).toMatch(/1-1000/);
  });

  it('a batch ignores the top-level name, data and encoding (even when data is not JSON)', () => {
    const body = [0x04, 0x01, 0x05, ...field('c'), ...field('ignored'), ...field('{nope'), ...field('enc'), ...field('b'), 0x00, 0x01, ...field('x'), ...field('[1]'), ...field('e2')];
    expect(only(decodeClientRecords(record(...body)))).toStrictEqual({
      t: 'pub',
      id: 5,
      channel: 'c',
      name: '',
      data: undefined,
      messageId: 'b',
      encoding: undefined,
      messages: [{ name: 'x', data: [1], encoding: 'e2' }],
      ephemeral: true,
    });
  });

  it('the reserved uvarint is read and ignored', () => {
    const body = [0x04, 0x00, 0x05, ...field('c'), ...field('n'), ...field('1'), 0x00, ...field('m'), 0xac, 0x02, 0x00];
    expect(only(decodeClientRecords(record(...body)))).toMatchObject({ t: 'pub', id: 5, name: 'n', data: 1, messageId: 'm' });
  });
});

describe('coalesced records in one message', () => {
  it('client records decode in order', () => {
    const message = concat(...clientExamples.map((e) => bytes(e.hex)));
    const decoded = decodeClientRecords(message);
    expect(decoded).toEqual(clientExamples.map((e) => hubbubClientFrame(e.input)));
  });

  it('an empty message decodes to nothing', () => {
    expect(decodeClientRecords(new Uint8Array(0))).toEqual([]);
    expect(decodeServerRecords(new Uint8Array(0))).toEqual([]);
  });

  it('decodes from a view into a larger buffer (e.g. a Node Buffer slice)', () => {
    const big = concat(Uint8Array.from([0xff, 0xff]), bytes(clientExamples[3].hex), Uint8Array.from([0xff]));
    const view = big.subarray(2, big.length - 1);
    expect(only(decodeClientRecords(view))).toEqual({ t: 'sub', id: 1, channel: 'chat:1' });
  });

});

describe('malformed client records', () => {
  const ping = bytes('01 0a');
  const sub = bytes(clientExamples[3].hex); // sub id 1 chat:1

  /** The bad record between two good ones: the error sits in the middle, both neighbours decode. */
  function middle(bad: Uint8Array): FrameError {
    const decoded = decodeClientRecords(concat(ping, bad, sub));
    expect(decoded).toHaveLength(3);
    expect(decoded[0]).toEqual({ t: 'ping' });
    expect(decoded[2]).toEqual({ t: 'sub', id: 1, channel: 'chat:1' });
    return frameError(decoded[1]);
  }

  it('truncated: a string runs past the end of its record (id readable)', () => {
    // unsub id 7, channel claims 6 bytes, 2 present.
    expect(middle(record(0x03, 0x07, 0x06, 0x63, 0x68)).requestId).toBe(7);
  });

  it('truncated: the record ends before the id', () => {
    expect(middle(record(0x02)).requestId).toBeUndefined();
  });

  it('truncated: pub ends after the id', () => {
    expect(middle(record(0x04, 0x00, 0x2a)).requestId).toBe(42);
  });

  it('truncated: pub ends inside the batch members', () => {
    const body = [0x04, 0x00, 0x0b, ...field('c'), 0x00, ...field('null'), 0x00, ...field('m'), 0x00, 0x02, ...field('a'), ...field('1'), 0x00];
    expect(middle(record(...body)).requestId).toBe(11);
  });

  it('truncated: pres has only its action byte', () => {
    expect(middle(record(0x05, 0x01)).requestId).toBeUndefined();
  });

  it('truncated: a varint cut off at the end of the record', () => {
    expect(middle(record(0x08, 0x04, 0x80)).requestId).toBe(4);
  });

  it('empty record', () => {
    expect(middle(record()).requestId).toBeUndefined();
  });

  it.each([
    ['0', 0x00],
    ['a server opcode (connected)', 0x0b],
    ['batch delivery (19)', 0x13],
    ['200', 0xc8],
  ])('bad opcode: %s', (_label, op) => {
    const err = middle(record(op, 0x01, ...field('c')));
    expect(err.requestId).toBeUndefined();
    expect(err.message).toMatch(/opcode/);
  });

  it('invalid JSON data: single pub, batch member, pres', () => {
    const single = [0x04, 0x00, 0x03, ...field('c'), ...field('n'), ...field('{"a":'), 0x00, ...field('m'), 0x00, 0x00];
    const inBatch = [0x04, 0x00, 0x04, ...field('c'), 0x00, ...field('null'), 0x00, ...field('m'), 0x00, 0x01, ...field('a'), ...field('undefined'), 0x00];
    const pres = [0x05, 0x01, 0x05, ...field('c'), ...field("{'x':1}"), 0x00];
    for (const [body, id] of [
      [single, 3],
      [inBatch, 4],
      [pres, 5],
    ] as const) {
      const err = middle(record(...body));
      expect(err.requestId).toBe(id);
      expect(err.message).toMatch(/JSON/);
    }
  });

  it.each(['', '.a', 'a.', 'a..b', 'a b', 'x'.repeat(256), 'chat/1'])('bad channel name %j', (channel) => {
    const err = middle(record(0x02, 0x09, 0x00, ...field(channel)));
    expect(err.requestId).toBe(9);
    expect(err.message).toMatch(/channel/);
  });

  it('a channel name of 255 characters is fine', () => {
    const channel = 'x'.repeat(255);
    expect(only(decodeClientRecords(encodeClientFrame({ t: 'presSub', id: 1, channel })))).toEqual({ t: 'presSub', id: 1, channel });
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'm'.repeat(129)],
  ])('messageId %s', (_label, messageId) => {
    const body = [0x04, 0x00, 0x06, ...field('c'), ...field('n'), ...field('1'), 0x00, ...field(messageId), 0x00, 0x00];
    const err = middle(record(...body));
    expect(err.requestId).toBe(6);
    expect(err.message).toMatch(/messageId/);
  });

  it('messageId of 128 characters is fine', () => {
    const frame: ClientFrame = { t: 'pub', id: 6, channel: 'c', name: 'n', data: 1, messageId: 'm'.repeat(128) };
    expect(only(decodeClientRecords(encodeClientFrame(frame)))).toMatchObject({ messageId: 'm'.repeat(128) });
  });

  it.each([0, 4, 255])('presence action byte %d', (action) => {
    const err = middle(record(0x05, action, 0x0c, ...field('c'), 0x00, 0x00));
    expect(err.requestId).toBe(12);
    expect(err.message).toMatch(/action/);
  });

  it.each([1, 2, 255])('auth version %d', (version) => {
    const err = middle(record(0x01, version, ...field('t'), 0x00, 0x00, 0x00));
    expect(err.requestId).toBeUndefined();
    expect(err.message).toMatch(/version/);
  });

  it('trailing bytes after the last field are ignored (room for later fields)', () => {
    expect(only(decodeClientRecords(record(0x0a, 0x00, 0x01)))).toEqual({ t: 'ping' });
  });

  describe('a bad length prefix ends the message', () => {
    it('length beyond the end of the message', () => {
      const decoded = decodeClientRecords(concat(ping, Uint8Array.from([0x20, 0x03, 0x01]), sub));
      expect(decoded).toHaveLength(2);
      expect(decoded[0]).toEqual({ t: 'ping' });
      expect(frameError(decoded[1]).requestId).toBeUndefined();
    });

    it('prefix varint cut off at the end of the message', () => {
      const decoded = decodeClientRecords(concat(sub, Uint8Array.from([0x80])));
      expect(decoded).toHaveLength(2);
      expect(decoded[0]).toEqual({ t: 'sub', id: 1, channel: 'chat:1' });
      frameError(decoded[1]);
    });

    it('prefix varint too long', () => {
      const decoded = decodeClientRecords(concat(Uint8Array.from(Array(11).fill(0xff)), sub));
      expect(decoded).toHaveLength(1);
      frameError(decoded[0]);
    });

    it('one FrameError only, even with more bytes after it', () => {
      const decoded = decodeClientRecords(concat(ping, ping, Uint8Array.from([0x7f]), ping, ping));
      expect(decoded.map((d) => (d instanceof FrameError ? 'err' : d.t))).toEqual(['ping', 'ping', 'err']);
    });
  });
});
