import { describe, expect, it } from 'vitest';
import { HalfSipHash } from '../src/engine/keyed-hash.js';

/**
 * HalfSipHash-2-4 with 32-bit output, from the reference implementation (github.com/veorq/SipHash,
 * vectors.h, `vectors_hsip32`): key 00 01 .. 07, message i is the i bytes 00 01 .. i-1. Each
 * value is the output's 4 bytes in order (little-endian).
 */
const REFERENCE = [
  'a9359f5b', '27475ab8', 'fa62a603', '8afee704', '2a6e4689', 'c5fab669', '5863fc23', '8bcf63c5',
  'd0b8848f', 'f806e779', '94b07934', '08083050', '57f0872f', '77e663ff', 'd6fff87c', '74fe2b97',
  'd9b5ac84', 'c474645b', '465b8d9b', '7befe387', 'e34d1045', '613f62b3', '70f367fe', 'e6adb8bd',
  '27400c63', '26787875', '4f567b5f', '3ab0e669', 'b0644000', 'ff670fb4', '509e338b', '5d589f1a',
  'fee72112', '33753259', '6a434f8c', 'fe28b729', 'e75cc6ec', '697e8d54', '63688b0f', '650b62b4',
  'b6bc1840', '5d074505', '2442fd2e', '7bb7863a', '7705d548', 'd75208b1', 'b6d499c8', '0892202e',
  '69e12ce3', '8db580e5', '369764c6', '016e0204', '3b85f3d4', 'fedb66be', '1e692a3a', 'c68984c0',
  'a5c5b940', '9be9e88c', '7dbc8140', '7c078ec5', 'd4e76c73', '428fcbb9', 'bd83997a', '59ea4a74',
];

const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const littleEndian = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0);

describe('HalfSipHash-2-4 (32-bit)', () => {
  const reference = new HalfSipHash(bytes(8));

  it('matches the reference vectors for every message length 0..63', () => {
    const message = bytes(64);
    for (let length = 0; length < 64; length++) {
      expect(reference.hash(message, 0, length), `message of ${length} bytes`).toBe(littleEndian(REFERENCE[length]));
    }
  });

  it('hashes a range of a larger buffer like the range alone', () => {
    const padded = new Uint8Array(80).fill(0xa5);
    padded.set(bytes(64), 7);
    for (let length = 0; length < 64; length++) {
      expect(reference.hash(padded, 7, 7 + length), `range of ${length} bytes`).toBe(littleEndian(REFERENCE[length]));
    }
  });

  it('returns an unsigned 32-bit integer', () => {
    for (let length = 0; length < 64; length++) {
      const h = reference.hash(bytes(64), 0, length);
      expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
    }
  });

  it('gives different hashes under different keys', () => {
    const message = Buffer.from('app/chat\0alice\0message-1');
    const seen = new Set<number>();
    // Every one-bit change of the key moves the hash.
    for (let bit = 0; bit < 64; bit++) {
      const key = new Uint8Array(8);
      key[bit >> 3] = 1 << (bit & 7);
      seen.add(new HalfSipHash(key).hash(message, 0, message.length));
    }
    seen.add(new HalfSipHash(new Uint8Array(8)).hash(message, 0, message.length));
    expect(seen.size).toBe(65);
  });

  it('draws a fresh random key per instance', () => {
    const message = Buffer.from('app/chat\0alice\0message-1');
    const hashes = new Set(Array.from({ length: 16 }, () => HalfSipHash.random().hash(message, 0, message.length)));
    // 16 random 32-bit values: a repeat has odds of about 3e-8.
    expect(hashes.size).toBe(16);
  });

  it('refuses a key that is not 8 bytes', () => {
    expect(() => new HalfSipHash(new Uint8Array(16))).toThrow(TypeError);
    expect(() => new HalfSipHash(new Uint8Array(4))).toThrow(TypeError);
  });
});
