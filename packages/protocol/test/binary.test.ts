import { describe, expect, it } from 'vitest';
import {
  decodeClientRecords,
  decodeServerRecords,
  encodeClientFrame,
  encodeMessageBundle,
  encodeServerFrame,
} from '../src/binary.js';
import { FrameError, decodeClientFrame } from '../src/codec.js';
import { ErrorCode } from '../src/errors.js';
import type { ClientFrame, MessageFrame, ServerFrame } from '../src/frames.js';

// ---- helpers ----

const bytes = (hex: string): Uint8Array => Uint8Array.from(hex.trim().split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
const hexOf = (u8: Uint8Array): string => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join(' ');
const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const utf8 = (s: string): number[] => Array.from(new TextEncoder().encode(s));
/** A uvarint, written independently of the codec. */
const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
};
/** `str`/`json` field: uvarint byte length then the bytes. */
const field = (s: string): number[] => {
  const b = utf8(s);
  return [...varint(b.length), ...b];
};
/** Raw record bytes with their length prefix. */
const record = (...body: number[]): Uint8Array => Uint8Array.from([...varint(body.length), ...body]);

function only<T>(list: T[]): T {
  expect(list).toHaveLength(1);
  return list[0];
}

function frameError(value: ClientFrame | FrameError): FrameError {
  expect(value).toBeInstanceOf(FrameError);
  const err = value as FrameError;
  expect(err.code).toBe(ErrorCode.BadFrame);
  return err;
}

// ---- the worked examples of docs/internal/foony-wire-notes.md §2.6 (verbatim) ----

interface Example {
  name: string;
  input: string;
  hex: string;
}

const clientExamples: Example[] = [
  { name: 'auth, token', input: '{"t":"auth","token":"aaa.bbb.ccc"}', hex: '11 01 00 0b 61 61 61 2e 62 62 62 2e 63 63 63 00 00 00' },
  { name: 'auth, key + clientId', input: '{"t":"auth","key":"myapp.k1:s3cret","clientId":"alice"}', hex: '1a 01 00 00 0f 6d 79 61 70 70 2e 6b 31 3a 73 33 63 72 65 74 05 61 6c 69 63 65 00' },
  { name: 'auth, reconnect with token + resumeConnectionId', input: '{"t":"auth","token":"aaa.bbb.ccc","resumeConnectionId":"c-7Qx"}', hex: '16 01 00 0b 61 61 61 2e 62 62 62 2e 63 63 63 00 00 05 63 2d 37 51 78' },
  { name: 'sub, fresh', input: '{"t":"sub","id":1,"channel":"chat:1"}', hex: '0a 02 01 00 06 63 68 61 74 3a 31' },
  { name: 'sub, resume', input: '{"t":"sub","id":5,"channel":"chat:1","lastSerial":300}', hex: '0b 02 05 ac 02 06 63 68 61 74 3a 31' },
  { name: 'unsub', input: '{"t":"unsub","id":2,"channel":"chat:1"}', hex: '09 03 02 06 63 68 61 74 3a 31' },
  { name: 'pub, ephemeral single', input: '{"t":"pub","id":3,"channel":"chat:1","name":"typing","data":{"on":true},"ephemeral":true,"messageId":"1719772800000-0a1b2c3d"}', hex: '37 04 01 03 06 63 68 61 74 3a 31 06 74 79 70 69 6e 67 0b 7b 22 6f 6e 22 3a 74 72 75 65 7d 00 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 00 00' },
  { name: 'pub, auto-batched single publish (1 member)', input: '{"t":"pub","id":4,"channel":"chat:1","name":"","data":null,"messages":[{"name":"greeting","data":{"text":"hi"}}],"messageId":"1719772800000-0a1b2c3d"}', hex: '42 04 00 04 06 63 68 61 74 3a 31 00 04 6e 75 6c 6c 00 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 00 01 08 67 72 65 65 74 69 6e 67 0d 7b 22 74 65 78 74 22 3a 22 68 69 22 7d 00' },
  { name: 'pub, encrypted 2-member batch', input: '{"t":"pub","id":4,"channel":"c","name":"","data":null,"messages":[{"name":"a","data":1},{"name":"b","data":"QUJD","encoding":"cipher+aes-256-gcm/base64"}],"messageId":"x-1"}', hex: '3a 04 00 04 01 63 00 04 6e 75 6c 6c 00 03 78 2d 31 00 02 01 61 01 31 00 01 62 06 22 51 55 4a 44 22 19 63 69 70 68 65 72 2b 61 65 73 2d 32 35 36 2d 67 63 6d 2f 62 61 73 65 36 34' },
  { name: 'pres enter', input: '{"t":"pres","id":6,"channel":"chat:1","action":"enter","data":{"name":"Alice"}}', hex: '1c 05 01 06 06 63 68 61 74 3a 31 10 7b 22 6e 61 6d 65 22 3a 22 41 6c 69 63 65 22 7d 00' },
  { name: 'pres leave', input: '{"t":"pres","id":7,"channel":"chat:1","action":"leave"}', hex: '0c 05 02 07 06 63 68 61 74 3a 31 00 00' },
  { name: 'presSub', input: '{"t":"presSub","id":8,"channel":"chat:1"}', hex: '09 06 08 06 63 68 61 74 3a 31' },
  { name: 'presUnsub', input: '{"t":"presUnsub","id":9,"channel":"chat:1"}', hex: '09 07 09 06 63 68 61 74 3a 31' },
  { name: 'hist with limit and before', input: '{"t":"hist","id":10,"channel":"chat:1","limit":50,"before":120}', hex: '0b 08 0a 32 06 63 68 61 74 3a 31 78' },
  { name: 'hist, defaults', input: '{"t":"hist","id":11,"channel":"chat:1"}', hex: '0b 08 0b 00 06 63 68 61 74 3a 31 00' },
  { name: 'fetch', input: '{"t":"fetch","id":12,"channel":"chat:1","fromSerial":41}', hex: '0a 09 0c 29 06 63 68 61 74 3a 31' },
  { name: 'ping', input: '{"t":"ping"}', hex: '01 0a' },
];

const serverExamples: Example[] = [
  { name: 'connected', input: '{"t":"connected","connectionId":"c-7Qx","keepAliveMs":15000,"clientId":"alice"}', hex: '0f 0b 05 63 2d 37 51 78 98 75 05 61 6c 69 63 65' },
  { name: 'ack, plain', input: '{"t":"ack","id":1}', hex: '04 0c 00 01 00' },
  { name: 'ack, publish with seq', input: '{"t":"ack","id":4,"seq":42}', hex: '04 0c 00 04 2a' },
  { name: 'ack, resume ok', input: '{"t":"ack","id":5,"resumed":true}', hex: '04 0c 03 05 00' },
  { name: 'ack, resume failed', input: '{"t":"ack","id":5,"resumed":false}', hex: '04 0c 01 05 00' },
  { name: 'msg, single', input: '{"t":"msg","channel":"chat:1","name":"greeting","data":{"text":"hi"},"timestamp":1719772800000,"messageId":"m-1","clientId":"alice","seq":42}', hex: '33 0d 01 00 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 08 67 72 65 65 74 69 6e 67 0d 7b 22 74 65 78 74 22 3a 22 68 69 22 7d 03 6d 2d 31 05 61 6c 69 63 65 00 2a' },
  { name: 'msg, ephemeral (no seq)', input: '{"t":"msg","channel":"chat:1","name":"typing","data":{"on":true},"timestamp":1719772800000,"messageId":"1719772800000-0a1b2c3d","clientId":"bob","ephemeral":true}', hex: '40 0d 01 01 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 06 74 79 70 69 6e 67 0b 7b 22 6f 6e 22 3a 74 72 75 65 7d 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 03 62 6f 62 00 00' },
  { name: 'presEvt enter', input: '{"t":"presEvt","channel":"chat:1","action":"enter","clientId":"alice","connectionId":"c-7Qx","data":{"name":"Alice"},"timestamp":1719772800000}', hex: '2d 0e 01 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 05 61 6c 69 63 65 05 63 2d 37 51 78 10 7b 22 6e 61 6d 65 22 3a 22 41 6c 69 63 65 22 7d 00' },
  { name: 'presEvt leave (with last data)', input: '{"t":"presEvt","channel":"chat:1","action":"leave","clientId":"alice","connectionId":"c-7Qx","data":{"name":"Alice"},"timestamp":1719772800000}', hex: '2d 0e 02 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 05 61 6c 69 63 65 05 63 2d 37 51 78 10 7b 22 6e 61 6d 65 22 3a 22 41 6c 69 63 65 22 7d 00' },
  { name: 'err, request-scoped', input: '{"t":"err","id":3,"code":40301,"message":"no publish"}', hex: '10 0f 03 ed ba 02 0a 6e 6f 20 70 75 62 6c 69 73 68' },
  { name: 'err, unscoped (handshake)', input: '{"t":"err","code":40101,"message":"bad token"}', hex: '0f 0f 00 a5 b9 02 09 62 61 64 20 74 6f 6b 65 6e' },
  { name: 'pong', input: '{"t":"pong"}', hex: '01 10' },
  { name: 'histRes, more', input: '{"t":"histRes","id":10,"channel":"chat:1","more":true,"messages":[{"t":"msg","channel":"chat:1","name":"greeting","data":{"text":"hi"},"timestamp":1719772800000,"messageId":"m-1","clientId":"alice","seq":42},{"t":"msg","channel":"chat:1","name":"","timestamp":1719772800000,"messageId":"1719772800000-0a1b2c3d","clientId":"alice","seq":43,"messages":[{"name":"a","data":1}]}]}', hex: '6e 11 01 0a 06 63 68 61 74 3a 31 02 00 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 08 67 72 65 65 74 69 6e 67 0d 7b 22 74 65 78 74 22 3a 22 68 69 22 7d 03 6d 2d 31 05 61 6c 69 63 65 00 2a 02 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 05 61 6c 69 63 65 2b 01 01 61 01 31 00' },
  { name: 'fetchRes, resumed, 1 message', input: '{"t":"fetchRes","id":12,"channel":"chat:1","resumed":true,"messages":[{"t":"msg","channel":"chat:1","name":"a","data":1,"timestamp":1719772800000,"messageId":"m-42","clientId":"bob","seq":42}]}', hex: '28 12 01 0c 06 63 68 61 74 3a 31 01 00 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 01 61 01 31 04 6d 2d 34 32 03 62 6f 62 00 2a' },
  { name: 'fetchRes, not resumed, empty', input: '{"t":"fetchRes","id":12,"channel":"chat:1","resumed":false,"messages":[]}', hex: '0b 12 00 0c 06 63 68 61 74 3a 31 00' },
];

/** §2.6 "batch (opcode 19)". */
const batchExample: Example = {
  name: 'batch (opcode 19)',
  input: '{"t":"msg","channel":"chat:1","name":"","timestamp":1719772800000,"messageId":"1719772800000-0a1b2c3d","clientId":"alice","seq":43,"messages":[{"name":"greeting","data":{"text":"hi"}},{"name":"x","data":"QUJD","encoding":"cipher+aes-256-gcm/base64"}]}',
  hex: '69 13 00 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 05 61 6c 69 63 65 2b 02 08 67 72 65 65 74 69 6e 67 0d 7b 22 74 65 78 74 22 3a 22 68 69 22 7d 00 01 78 06 22 51 55 4a 44 22 19 63 69 70 68 65 72 2b 61 65 73 2d 32 35 36 2d 67 63 6d 2f 62 61 73 65 36 34',
};

/** §2.6 "msg, bundle of 2 (one single, one batch)" (the input is the SDK's `bundle` shape). */
const bundleExample: Example = {
  name: 'msg, bundle of 2 (one single, one batch)',
  input: '{"t":"msg","channel":"chat:1","name":"","timestamp":0,"messageId":"","bundle":[{"name":"a","data":1,"timestamp":1719772800000,"messageId":"m-44","clientId":"bob","seq":44},{"name":"","timestamp":1719772800001,"messageId":"1719772800000-0a1b2c3d","clientId":"alice","seq":45,"messages":[{"name":"b","data":2}]}]}',
  hex: '51 0d 02 00 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 01 61 01 31 04 6d 2d 34 34 03 62 6f 62 00 2c 02 81 c8 c9 d3 86 32 06 63 68 61 74 3a 31 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 05 61 6c 69 63 65 2d 01 01 62 01 32 00',
};

/** §2.6 "Coalescing: connected and an ack in one WebSocket message". */
const coalescedExample = '0f 0b 05 63 2d 37 51 78 98 75 05 61 6c 69 63 65 04 0c 00 01 00';

/** The Hubbub frame an example input stands for: a batch publish's top-level `data: null` is ignored. */
function hubbubClientFrame(input: string): Record<string, unknown> {
  const frame = JSON.parse(input) as Record<string, unknown>;
  if (frame.t === 'pub' && Array.isArray(frame.messages)) delete frame.data;
  return frame;
}

// ---- golden tests ----

describe('worked examples: client → server', () => {
  it.each(clientExamples)('$name: decodes to the frame the JSON codec gives', ({ input, hex }) => {
    const expected = hubbubClientFrame(input);
    const decoded = only(decodeClientRecords(bytes(hex)));
    expect(decoded).not.toBeInstanceOf(FrameError);
    expect(decoded).toEqual(expected);
    // Same object, key for key (including the keys the JSON codec sets to undefined).
    expect(decoded).toStrictEqual(decodeClientFrame(JSON.stringify(expected)));
  });

  it.each(clientExamples)('$name: encodeClientFrame gives exactly the example bytes', ({ input, hex }) => {
    expect(hexOf(encodeClientFrame(JSON.parse(input) as ClientFrame))).toBe(hex);
  });

  it.each(clientExamples)('$name: round trip bytes → decode → encodeClientFrame → same bytes', ({ hex }) => {
    const decoded = only(decodeClientRecords(bytes(hex))) as ClientFrame;
    expect(hexOf(encodeClientFrame(decoded))).toBe(hex);
  });
});

describe('worked examples: server → client', () => {
  it.each(serverExamples)('$name: encodeServerFrame gives exactly the example bytes', ({ input, hex }) => {
    expect(hexOf(encodeServerFrame(JSON.parse(input) as ServerFrame))).toBe(hex);
  });

  it.each(serverExamples)('$name: decodeServerRecords gives the frame back, and re-encodes identically', ({ input, hex }) => {
    const decoded = only(decodeServerRecords(bytes(hex)));
    expect(decoded).toEqual(JSON.parse(input));
    expect(hexOf(encodeServerFrame(decoded))).toBe(hex);
  });

  it('batch (opcode 19): decodes; encodeServerFrame sends the same batch as a one-member msg with flag bit1', () => {
    const frame = JSON.parse(batchExample.input) as MessageFrame;
    expect(only(decodeServerRecords(bytes(batchExample.hex)))).toEqual(frame);

    // Same batch fields after the flags byte; only the header differs: `13 00` → `0d 01 02`.
    const example = bytes(batchExample.hex);
    expect(example[0]).toBe(105);
    const asMsg = Uint8Array.from([106, 0x0d, 0x01, 0x02, ...example.subarray(3)]);
    const encoded = encodeServerFrame(frame);
    expect(hexOf(encoded)).toBe(hexOf(asMsg));
    expect(only(decodeServerRecords(encoded))).toEqual(frame);
  });

  it('msg bundle of 2 (one single, one batch): encodeMessageBundle gives exactly the example bytes', () => {
    const sdk = JSON.parse(bundleExample.input) as { channel: string; bundle: Array<Omit<MessageFrame, 't' | 'channel'>> };
    const messages: MessageFrame[] = sdk.bundle.map((m) => ({ t: 'msg', channel: sdk.channel, ...m }));
    const encoded = encodeMessageBundle('chat:1', messages);
    expect(hexOf(encoded)).toBe(bundleExample.hex);
    // A bundle decodes to one MessageFrame per member.
    expect(decodeServerRecords(bytes(bundleExample.hex))).toEqual(messages);
  });

  it('coalescing: connected + ack in one message', () => {
    const connected: ServerFrame = { t: 'connected', connectionId: 'c-7Qx', keepAliveMs: 15000, clientId: 'alice' };
    const ack: ServerFrame = { t: 'ack', id: 1 };
    expect(hexOf(concat(encodeServerFrame(connected), encodeServerFrame(ack)))).toBe(coalescedExample);
    expect(decodeServerRecords(bytes(coalescedExample))).toEqual([connected, ack]);
  });

  it('a 217-byte record gets the two-byte prefix d9 01', () => {
    const token = 'x'.repeat(210); // 1 opcode + 1 version + (2 + 210) token + 3 empty strings = 217
    const encoded = encodeClientFrame({ t: 'auth', token });
    expect(encoded.length).toBe(219);
    expect(hexOf(encoded.subarray(0, 6))).toBe('d9 01 01 00 d2 01');
    expect(only(decodeClientRecords(encoded))).toMatchObject({ t: 'auth', token });
  });
});

// ---- primitives ----

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

// ---- zero means absent ----

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

  it('server frames: absent seq/clientId/encoding/data/id are written as zero and read back as absent', () => {
    const msg: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: undefined, messageId: 'm', timestamp: 0 };
    const encoded = encodeServerFrame(msg);
    // 0d | count 1 | flags 0 | ts 0 | "c" | "n" | data "" | "m" | clientId "" | encoding "" | seq 0
    expect(hexOf(encoded)).toBe(hexOf(record(0x0d, 0x01, 0x00, 0x00, ...field('c'), ...field('n'), 0x00, ...field('m'), 0x00, 0x00, 0x00)));
    expect(only(decodeServerRecords(encoded))).toStrictEqual(msg);

    const evt = only(decodeServerRecords(encodeServerFrame({ t: 'presEvt', channel: 'c', action: 'leave', clientId: 'a', connectionId: 'x', timestamp: 1 })));
    expect(evt).toStrictEqual({ t: 'presEvt', channel: 'c', action: 'leave', clientId: 'a', connectionId: 'x', timestamp: 1 });

    expect(only(decodeServerRecords(encodeServerFrame({ t: 'histRes', id: 1, channel: 'c', messages: [] })))).toStrictEqual({
      t: 'histRes',
      id: 1,
      channel: 'c',
      messages: [],
    });
  });
});

// ---- publish batches ----

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

// ---- coalesced records ----

describe('coalesced records in one message', () => {
  it('client records decode in order', () => {
    const message = concat(...clientExamples.map((e) => bytes(e.hex)));
    const decoded = decodeClientRecords(message);
    expect(decoded).toEqual(clientExamples.map((e) => hubbubClientFrame(e.input)));
  });

  it('server records decode in order, a bundle counting one frame per member', () => {
    const message = concat(
      ...serverExamples.map((e) => bytes(e.hex)),
      bytes(bundleExample.hex),
      bytes(batchExample.hex),
    );
    const decoded = decodeServerRecords(message);
    expect(decoded).toHaveLength(serverExamples.length + 2 + 1);
    expect(decoded.slice(0, serverExamples.length)).toEqual(serverExamples.map((e) => JSON.parse(e.input)));
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

  it('unknown server opcodes are skipped', () => {
    expect(decodeServerRecords(concat(record(0x30, 0x01, 0x02), bytes('01 10')))).toEqual([{ t: 'pong' }]);
  });
});

// ---- malformed records ----

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

  it('decodeServerRecords throws a FrameError on a malformed record or prefix', () => {
    expect(() => decodeServerRecords(record(0x0c, 0x00))).toThrow(FrameError);
    expect(() => decodeServerRecords(Uint8Array.from([0x09, 0x10]))).toThrow(FrameError);
  });
});

// ---- encoding: Hubbub-only fields and frames ----

describe('encodeServerFrame: fields and frames without a binary form', () => {
  it('drops ack.epoch/duplicate/members, connected.expiresAt, err.channel', () => {
    expect(hexOf(encodeServerFrame({ t: 'ack', id: 4, seq: 42, duplicate: true, epoch: 'e1', members: [] }))).toBe('04 0c 00 04 2a');
    expect(hexOf(encodeServerFrame({ t: 'ack', id: 5, seq: 7, resumed: true, epoch: 'e' }))).toBe('04 0c 03 05 07');
    expect(encodeServerFrame({ t: 'connected', connectionId: 'c-7Qx', keepAliveMs: 15000, clientId: 'alice', expiresAt: 1 })).toEqual(
      bytes(serverExamples[0].hex),
    );
    expect(hexOf(encodeServerFrame({ t: 'err', id: 3, code: 40301, message: 'no publish', channel: 'chat:1' }))).toBe(
      serverExamples.find((e) => e.name === 'err, request-scoped')!.hex,
    );
    expect(hexOf(encodeServerFrame({ t: 'pong', id: 9 }))).toBe('01 10');
  });

  it("presence 'present' goes out as enter", () => {
    const frame = JSON.parse(serverExamples.find((e) => e.name === 'presEvt enter')!.input) as ServerFrame;
    const present = { ...frame, action: 'present' } as unknown as ServerFrame;
    expect(hexOf(encodeServerFrame(present))).toBe(hexOf(encodeServerFrame(frame)));
  });

  it('presence update is action 3', () => {
    const encoded = encodeServerFrame({ t: 'presEvt', channel: 'c', action: 'update', clientId: 'a', connectionId: 'x', timestamp: 0, data: 1, encoding: 'e' });
    expect(encoded[2]).toBe(3);
    expect(only(decodeServerRecords(encoded))).toEqual({ t: 'presEvt', channel: 'c', action: 'update', clientId: 'a', connectionId: 'x', timestamp: 0, data: 1, encoding: 'e' });
  });

  it('an ephemeral batch sets both flag bits', () => {
    const frame: MessageFrame = { t: 'msg', channel: 'c', name: '', data: null, messageId: 'b', timestamp: 5, clientId: 'a', ephemeral: true, messages: [{ name: 'x', data: 1 }] };
    const encoded = encodeServerFrame(frame);
    expect(hexOf(encoded.subarray(0, 4))).toBe(`${hexOf(encoded.subarray(0, 1))} 0d 01 03`);
    expect(only(decodeServerRecords(encoded))).toEqual({ ...frame, data: undefined });
  });

  it('an empty messages array is a single message', () => {
    const frame: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: 1, messageId: 'm', timestamp: 5, messages: [] };
    expect(encodeServerFrame(frame)[3]).toBe(0);
  });

  it('evt has no binary form: throws a plain Error', () => {
    const evt: ServerFrame = { t: 'evt', event: { id: '1', topic: 't', source: 'socket', type: 'x', payload: null, metadata: { timestamp: 0 } } };
    expect(() => encodeServerFrame(evt)).toThrow(Error);
    expect(() => encodeServerFrame(evt)).not.toThrow(FrameError);
  });

  it('encodeMessageBundle refuses an empty bundle and a foreign channel', () => {
    const m: MessageFrame = { t: 'msg', channel: 'a', name: 'n', data: 1, messageId: 'm', timestamp: 1 };
    expect(() => encodeMessageBundle('a', [])).toThrow();
    expect(() => encodeMessageBundle('b', [m])).toThrow(/"a"/);
    expect(hexOf(encodeMessageBundle('a', [m]))).toBe(hexOf(encodeServerFrame(m)));
  });

  it('a bundle keeps each member’s flags', () => {
    const a: MessageFrame = { t: 'msg', channel: 'c', name: 'typing', data: true, messageId: 'e1', timestamp: 1, clientId: 'x', ephemeral: true };
    const b: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: { v: [1, 'two', null] }, messageId: 'm', timestamp: 2, clientId: 'y', seq: 9, encoding: 'enc' };
    expect(decodeServerRecords(encodeMessageBundle('c', [a, b]))).toEqual([a, b]);
  });

  it('histRes and fetchRes write the response channel into every member', () => {
    const m: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: 1, messageId: 'm', timestamp: 1, seq: 1 };
    const res = only(decodeServerRecords(encodeServerFrame({ t: 'fetchRes', id: 2, channel: 'c', messages: [m, { ...m, seq: 2 }], resumed: false })));
    expect(res).toEqual({ t: 'fetchRes', id: 2, channel: 'c', messages: [m, { ...m, seq: 2 }], resumed: false });
  });
});

describe('encodeClientFrame: frames and fields without a binary form', () => {
  it('drops auth.echo, sub.epoch and ping ids', () => {
    expect(hexOf(encodeClientFrame({ t: 'auth', token: 'aaa.bbb.ccc', echo: false }))).toBe(clientExamples[0].hex);
    expect(hexOf(encodeClientFrame({ t: 'sub', id: 1, channel: 'chat:1', epoch: 'e1' }))).toBe(clientExamples[3].hex);
    expect(hexOf(encodeClientFrame({ t: 'ping', id: 7 }))).toBe('01 0a');
    expect(hexOf(encodeClientFrame({ t: 'hist', id: 11, channel: 'chat:1', direction: 'backwards' }))).toBe(clientExamples[14].hex);
  });

  it('throws for tsub, tunsub, dm and hist forwards', () => {
    expect(() => encodeClientFrame({ t: 'tsub', id: 1, sid: 's', topic: 't' })).toThrow();
    expect(() => encodeClientFrame({ t: 'tunsub', id: 1, sid: 's' })).toThrow();
    expect(() => encodeClientFrame({ t: 'dm', id: 1, to: 'bob', name: 'n' })).toThrow();
    expect(() => encodeClientFrame({ t: 'hist', id: 1, channel: 'c', direction: 'forwards' })).toThrow();
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
