/** The field types (src/binary/reader.ts, writer.ts): uvarint, str, and the reused encode buffer. */
import { describe, expect, it } from 'vitest';
import { decodeClientRecords, decodeServerRecords, encodeClientFrame, encodeServerFrame } from '../src/binary/index.js';
import type { ClientFrame, MessageFrame } from '../src/frames.js';
import { bytes, field, frameError, hexOf, only, record, utf8 } from './binary-examples.js';

describe('uvarint', () => {
  const cases: Array<[number, string]> = [
    [127, '7f'],
    [128, '80 01'],
    [300, 'ac 02'],
    [15000, '98 75'],
    [40101, 'a5 b9 02'],
    [2 ** 31 - 1, 'ff ff ff ff 07'],
    [2 ** 32, '80 80 80 80 10'],
    [1719772800000, '80 c8 c9 d3 86 32'],
    [Number.MAX_SAFE_INTEGER, 'ff ff ff ff ff ff ff 0f'],
  ];

  it.each(cases)('%d ⇄ %s', (value, hex) => {
    // Carried in sub.lastSerial: 02 | id 01 | lastSerial | channel "c".
    const encoded = encodeClientFrame({ t: 'sub', id: 1, channel: 'c', lastSerial: value });
    const body = [0x02, 0x01, ...bytes(hex), 0x01, 0x63];
    expect(hexOf(encoded)).toBe(hexOf(record(...body)));
    expect(only(decodeClientRecords(encoded))).toEqual({ t: 'sub', id: 1, channel: 'c', lastSerial: value });
  });

  it('0 is one zero byte (and means "no cursor")', () => {
    const encoded = encodeClientFrame({ t: 'sub', id: 0, channel: 'c', lastSerial: 0 });
    expect(hexOf(encoded)).toBe('05 02 00 00 01 63');
    expect(only(decodeClientRecords(encoded))).toStrictEqual({ t: 'sub', id: 0, channel: 'c', lastSerial: undefined, epoch: undefined });
  });

  it('2^53-1 as a request id and as a message timestamp', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(only(decodeClientRecords(encodeClientFrame({ t: 'unsub', id: max, channel: 'c' })))).toEqual({ t: 'unsub', id: max, channel: 'c' });
    const msg: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: 1, messageId: 'm', timestamp: max, seq: max };
    expect(only(decodeServerRecords(encodeServerFrame(msg)))).toEqual(msg);
  });

  it('values above 2^53-1 are malformed on the way in', () => {
    // unsub with id 2^53 (80 ×7, 10): the id cannot be read.
    const err = frameError(only(decodeClientRecords(record(0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10, ...field('c')))));
    expect(err.requestId).toBeUndefined();
    // An 11-byte varint.
    frameError(only(decodeClientRecords(record(0x03, ...Array(10).fill(0x80), 0x00, ...field('c')))));
  });

  it('a non-canonical (padded) encoding still reads as its value', () => {
    expect(only(decodeClientRecords(record(0x03, 0x85, 0x80, 0x00, ...field('c'))))).toEqual({ t: 'unsub', id: 5, channel: 'c' });
  });

  it.each([-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY])('encoding %d throws a RangeError', (value) => {
    expect(() => encodeServerFrame({ t: 'ack', id: value })).toThrow(RangeError);
  });
});

describe('strings', () => {
  it('non-ASCII text, short and long, round trips with byte lengths', () => {
    const short = 'héllo ✓ 🎉';
    const long = `${'ü'.repeat(60)}🎉${'a'.repeat(100)}`;
    for (const name of [short, long]) {
      const frame: ClientFrame = { t: 'pub', id: 1, channel: 'c', name, data: { name }, messageId: 'm' };
      const encoded = encodeClientFrame(frame);
      const decoded = only(decodeClientRecords(encoded)) as ClientFrame;
      expect(decoded).toMatchObject({ name, data: { name } });
      expect(hexOf(encodeClientFrame(decoded))).toBe(hexOf(encoded));
    }
    // The short one: byte length, not UTF-16 length.
    const rec = encodeClientFrame({ t: 'pub', id: 1, channel: 'c', name: short, data: 1, messageId: 'm' });
    const n = utf8(short).length;
    expect(n).toBe(15);
    expect(hexOf(rec.subarray(6, 7 + n))).toBe(hexOf(Uint8Array.from(field(short))));
  });

  it('a 43-127 byte ASCII string keeps a one-byte length prefix', () => {
    const token = 'a'.repeat(100);
    const encoded = encodeClientFrame({ t: 'auth', token });
    expect(hexOf(encoded.subarray(0, 4))).toBe('6a 01 00 64'); // 106-byte record, token length 100
    expect(only(decodeClientRecords(encoded))).toMatchObject({ token });
  });

  it('a leading BOM is kept, not stripped', () => {
    const token = '\ufeffabc';
    expect(only(decodeClientRecords(encodeClientFrame({ t: 'auth', token })))).toMatchObject({ token });
  });

  it('invalid UTF-8 is a malformed record', () => {
    const err = frameError(only(decodeClientRecords(record(0x05, 0x01, 0x09, ...field('c'), 0x03, 0x22, 0xff, 0x22, 0x00))));
    expect(err.requestId).toBe(9);
  });
});

describe('the encode buffer', () => {
  it('every encode returns its own exact-size array', () => {
    const first = encodeServerFrame({ t: 'ack', id: 1 });
    const second = encodeServerFrame({ t: 'ack', id: 2, seq: 3 });
    expect(hexOf(first)).toBe('04 0c 00 01 00');
    expect(hexOf(second)).toBe('04 0c 00 02 03');
    expect(first.buffer.byteLength).toBe(5);
  });

  it('grows for large frames and still encodes small ones afterwards', () => {
    const big = 'z'.repeat(3_000_000);
    const frame: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: big, messageId: 'm', timestamp: 1, seq: 1 };
    const encoded = encodeServerFrame(frame);
    expect(only(decodeServerRecords(encoded))).toEqual(frame);
    expect(hexOf(encodeServerFrame({ t: 'pong' }))).toBe('01 10');
  });

  it('a toJSON that encodes while encoding does not corrupt the outer record', () => {
    const inner = { toJSON: () => hexOf(encodeServerFrame({ t: 'ack', id: 9 })) };
    const frame = { t: 'msg', channel: 'c', name: 'n', data: inner, messageId: 'm', timestamp: 1 } as MessageFrame;
    const decoded = only(decodeServerRecords(encodeServerFrame(frame))) as MessageFrame;
    expect(decoded.data).toBe('04 0c 00 09 00');
    expect(decoded.messageId).toBe('m');
  });
});
