/**
 * What the binary codec tests share: byte helpers written independently of the codec, and the
 * worked examples of docs/internal/foony-wire-notes.md §2.6 (verbatim). Not a test file itself.
 */
import { expect } from 'vitest';
import { FrameError } from '../src/codec.js';
import { ErrorCode } from '../src/errors.js';
import type { ClientFrame } from '../src/frames.js';

export const bytes = (hex: string): Uint8Array => Uint8Array.from(hex.trim().split(/\s+/).filter(Boolean), (b) => parseInt(b, 16));
export const hexOf = (u8: Uint8Array): string => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join(' ');
export const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
export const utf8 = (s: string): number[] => Array.from(new TextEncoder().encode(s));
/** A uvarint, written independently of the codec. */
export const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
};
/** `str`/`json` field: uvarint byte length then the bytes. */
export const field = (s: string): number[] => {
  const b = utf8(s);
  return [...varint(b.length), ...b];
};
/** Raw record bytes with their length prefix. */
export const record = (...body: number[]): Uint8Array => Uint8Array.from([...varint(body.length), ...body]);

export function only<T>(list: T[]): T {
  expect(list).toHaveLength(1);
  return list[0];
}

export function frameError(value: ClientFrame | FrameError): FrameError {
  expect(value).toBeInstanceOf(FrameError);
  const err = value as FrameError;
  expect(err.code).toBe(ErrorCode.BadFrame);
  return err;
}

// ---- the worked examples of docs/internal/foony-wire-notes.md §2.6 (verbatim) ----

export interface Example {
  name: string;
  input: string;
  hex: string;
}

export const clientExamples: Example[] = [
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

export const serverExamples: Example[] = [
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
export const batchExample: Example = {
  name: 'batch (opcode 19)',
  input: '{"t":"msg","channel":"chat:1","name":"","timestamp":1719772800000,"messageId":"1719772800000-0a1b2c3d","clientId":"alice","seq":43,"messages":[{"name":"greeting","data":{"text":"hi"}},{"name":"x","data":"QUJD","encoding":"cipher+aes-256-gcm/base64"}]}',
  hex: '69 13 00 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 05 61 6c 69 63 65 2b 02 08 67 72 65 65 74 69 6e 67 0d 7b 22 74 65 78 74 22 3a 22 68 69 22 7d 00 01 78 06 22 51 55 4a 44 22 19 63 69 70 68 65 72 2b 61 65 73 2d 32 35 36 2d 67 63 6d 2f 62 61 73 65 36 34',
};

/** §2.6 "msg, bundle of 2 (one single, one batch)" (the input is the SDK's `bundle` shape). */
export const bundleExample: Example = {
  name: 'msg, bundle of 2 (one single, one batch)',
  input: '{"t":"msg","channel":"chat:1","name":"","timestamp":0,"messageId":"","bundle":[{"name":"a","data":1,"timestamp":1719772800000,"messageId":"m-44","clientId":"bob","seq":44},{"name":"","timestamp":1719772800001,"messageId":"1719772800000-0a1b2c3d","clientId":"alice","seq":45,"messages":[{"name":"b","data":2}]}]}',
  hex: '51 0d 02 00 80 c8 c9 d3 86 32 06 63 68 61 74 3a 31 01 61 01 31 04 6d 2d 34 34 03 62 6f 62 00 2c 02 81 c8 c9 d3 86 32 06 63 68 61 74 3a 31 16 31 37 31 39 37 37 32 38 30 30 30 30 30 2d 30 61 31 62 32 63 33 64 05 61 6c 69 63 65 2d 01 01 62 01 32 00',
};

/** §2.6 "Coalescing: connected and an ack in one WebSocket message". */
export const coalescedExample = '0f 0b 05 63 2d 37 51 78 98 75 05 61 6c 69 63 65 04 0c 00 01 00';

/** The Hubbub frame an example input stands for: a batch publish's top-level `data: null` is ignored. */
export function hubbubClientFrame(input: string): Record<string, unknown> {
  const frame = JSON.parse(input) as Record<string, unknown>;
  if (frame.t === 'pub' && Array.isArray(frame.messages)) delete frame.data;
  return frame;
}
