import { randomBytes } from 'node:crypto';

/** Bytes in a HalfSipHash key. */
export const HASH_KEY_BYTES = 8;

/**
 * HalfSipHash-2-4 with a 32-bit result (Aumasson and Bernstein's SipHash on 32-bit words; reference:
 * github.com/veorq/SipHash, halfsiphash.c), for hash tables whose keys a client chooses.
 *
 * A keyed PRF: without the key, nobody can compute ids that collide, offline or by trial. Seeded
 * non-cryptographic hashes (Murmur, City) do not give that: they have multicollisions that hold
 * for every seed. It stays in 32-bit integer arithmetic, which is what JavaScript does fast.
 */
export class HalfSipHash {
  private readonly k0: number;
  private readonly k1: number;

  constructor(key: Uint8Array) {
    if (key.length !== HASH_KEY_BYTES) throw new TypeError(`a HalfSipHash key is ${HASH_KEY_BYTES} bytes, got ${key.length}`);
    this.k0 = readWord(key, 0);
    this.k1 = readWord(key, 4);
  }

  /** A hash under a fresh key from the system's CSPRNG. */
  static random(): HalfSipHash {
    return new HalfSipHash(randomBytes(HASH_KEY_BYTES));
  }

  /** The hash of `bytes[start, end)`, an unsigned 32-bit integer. */
  hash(bytes: Uint8Array, start: number, end: number): number {
    let v0 = this.k0;
    let v1 = this.k1;
    let v2 = 0x6c796765 ^ this.k0;
    let v3 = 0x74656462 ^ this.k1;
    const length = end - start;
    const whole = end - (length & 3);
    // The last word holds the 0-3 trailing bytes and, in its top byte, the length mod 256.
    let last = length << 24;
    if (whole + 2 < end) last |= bytes[whole + 2] << 16;
    if (whole + 1 < end) last |= bytes[whole + 1] << 8;
    if (whole < end) last |= bytes[whole];

    // One loop, one copy of the two rounds: a word per pass (the padded last word included), then
    // two passes with no word for finalization's four rounds. Written so, V8 keeps the state in
    // registers and the hash runs about 2.5 times as fast as with a loop per phase.
    for (let i = start; i <= whole + 8; i += 4) {
      let m = 0;
      if (i < whole) m = readWord(bytes, i);
      else if (i === whole) m = last;
      else if (i === whole + 4) v2 ^= 0xff; // finalization starts
      v3 ^= m;
      // SipRound
      v0 = (v0 + v1) | 0;
      v1 = (v1 << 5) | (v1 >>> 27);
      v1 ^= v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = (v3 << 8) | (v3 >>> 24);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = (v3 << 7) | (v3 >>> 25);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = (v1 << 13) | (v1 >>> 19);
      v1 ^= v2;
      v2 = (v2 << 16) | (v2 >>> 16);
      // SipRound
      v0 = (v0 + v1) | 0;
      v1 = (v1 << 5) | (v1 >>> 27);
      v1 ^= v0;
      v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0;
      v3 = (v3 << 8) | (v3 >>> 24);
      v3 ^= v2;
      v0 = (v0 + v3) | 0;
      v3 = (v3 << 7) | (v3 >>> 25);
      v3 ^= v0;
      v2 = (v2 + v1) | 0;
      v1 = (v1 << 13) | (v1 >>> 19);
      v1 ^= v2;
      v2 = (v2 << 16) | (v2 >>> 16);
      v0 ^= m;
    }
    return (v1 ^ v3) >>> 0;
  }
}

/** The little-endian 32-bit word at `at`, as a signed int (the arithmetic is mod 2^32 either way). */
function readWord(bytes: Uint8Array, at: number): number {
  return bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
}
