/**
 * Writing the binary codec's field types into one length-prefixed record: uvarint, str, json
 * (§2.1 of docs/internal/foony-wire-notes.md). Both encoders use it through `encodeRecord`, which
 * reuses one scratch buffer and copies each record out at its exact size.
 */

const encoder = new TextEncoder();

/** Bytes kept free in front of a record for its length prefix (5 bytes cover records < 32 GiB). */
const HEAD = 5;
const INITIAL_CAPACITY = 512;
/** A scratch buffer that grew past this is not kept for the next encode. */
const MAX_KEPT_CAPACITY = 1 << 20;

/** Growable byte buffer for one record; `finish` prefixes the length and copies out exactly. */
export class Writer {
  buf = new Uint8Array(INITIAL_CAPACITY);
  pos = HEAD;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  uvarint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`binary codec: ${v} is not a uvarint (0 to 2^53-1)`);
    this.room(8);
    this.pos = putUvarint(this.buf, this.pos, v);
  }

  /** `str`: byte length then UTF-8, written straight into the buffer. */
  str(s: string): void {
    const n = s.length;
    if (n === 0) {
      this.u8(0);
      return;
    }
    if (n < 43) {
      // At most 3n < 128 bytes: a one-byte length prefix.
      this.room(1 + 3 * n);
      const buf = this.buf;
      const lenAt = this.pos;
      let p = lenAt + 1;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          p = lenAt + 1 + encoder.encodeInto(s, buf.subarray(lenAt + 1, lenAt + 1 + 3 * n)).written;
          break;
        }
        buf[p++] = c;
      }
      buf[lenAt] = p - lenAt - 1;
      this.pos = p;
      return;
    }
    const max = 3 * n; // UTF-8 bytes per UTF-16 unit never exceed 3
    const guess = uvarintSize(max);
    this.room(guess + max);
    const start = this.pos + guess;
    const written = encoder.encodeInto(s, this.buf.subarray(start, start + max)).written;
    const size = uvarintSize(written);
    if (size < guess) this.buf.copyWithin(this.pos + size, start, start + written);
    putUvarint(this.buf, this.pos, written);
    this.pos += size + written;
  }

  /** `json`: JSON.stringify(value); undefined (or a value JSON cannot represent) = zero length. */
  json(value: unknown): void {
    const text = value === undefined ? undefined : JSON.stringify(value);
    if (text === undefined) this.u8(0);
    else this.str(text);
  }

  /** The record with its length prefix, as a new exact-size array. */
  finish(): Uint8Array {
    const len = this.pos - HEAD;
    const start = HEAD - uvarintSize(len);
    putUvarint(this.buf, start, len);
    return this.buf.slice(start, this.pos);
  }
}

/** Bytes `v` takes as a uvarint. */
export function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes `v` at `pos` (room already made); returns the end offset. */
export function putUvarint(buf: Uint8Array, pos: number, v: number): number {
  while (v > 0x7fffffff) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** One scratch writer reused across encodes (a nested encode, e.g. from a toJSON, gets its own). */
let spare: Writer | null = null;

/** The record `write` fills in, with its length prefix, as a new exact-size array. */
export function encodeRecord(write: (w: Writer) => void): Uint8Array {
  const w = spare ?? new Writer();
  spare = null;
  w.pos = HEAD;
  try {
    write(w);
    return w.finish();
  } finally {
    if (w.buf.length <= MAX_KEPT_CAPACITY) spare = w;
  }
}
