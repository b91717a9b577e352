/** Server → client records, decoded by a client (src/binary/server-decode.ts). */
import { describe, expect, it } from 'vitest';
import { decodeServerRecords } from '../src/binary/index.js';
import { FrameError } from '../src/codec.js';
import { batchExample, bundleExample, bytes, concat, record, serverExamples } from './binary-examples.js';

describe('coalesced records in one message', () => {
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

  it('unknown server opcodes are skipped', () => {
    expect(decodeServerRecords(concat(record(0x30, 0x01, 0x02), bytes('01 10')))).toEqual([{ t: 'pong' }]);
  });
});

describe('malformed server records', () => {
  it('decodeServerRecords throws a FrameError on a malformed record or prefix', () => {
    expect(() => decodeServerRecords(record(0x0c, 0x00))).toThrow(FrameError);
    expect(() => decodeServerRecords(Uint8Array.from([0x09, 0x10]))).toThrow(FrameError);
  });
});
