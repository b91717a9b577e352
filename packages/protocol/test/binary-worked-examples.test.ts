/** Golden bytes: the worked examples of the wire notes through all four directions of the codec. */
import { describe, expect, it } from 'vitest';
import {
  decodeClientRecords,
  decodeServerRecords,
  encodeClientFrame,
  encodeMessageBundle,
  encodeServerFrame,
} from '../src/binary/index.js';
import { FrameError, decodeClientFrame } from '../src/codec.js';
import type { ClientFrame, MessageFrame, ServerFrame } from '../src/frames.js';
import { batchExample, bundleExample, bytes, clientExamples, coalescedExample, concat, hexOf, hubbubClientFrame, only, serverExamples } from './binary-examples.js';

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
