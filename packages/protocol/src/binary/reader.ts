/**
 * Reading the binary codec's field types out of a record: uvarint, str, json (§2.1 of
 * docs/internal/foony-wire-notes.md). Both decoders use it; a field that cannot be read throws
 * `Malformed`, which each decoder turns into its own FrameError.
 */

import { MAX_JSON_DEPTH, exceedsJsonDepth } from '../json-depth.js';

/** Strict UTF-8 (bad bytes are a malformed record) that keeps a leading BOM as text. */
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A record that cannot be read; turned into a FrameError (with the request id when known). */
export class Malformed extends Error {}

/** Reads fields in order from `buf[start, end)`, one record. */
export class Reader {
  pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.pos = start;
  }

  u8(): number {
    if (this.pos >= this.end) throw new Malformed('truncated record');
    return this.buf[this.pos++];
  }

  uvarint(): number {
    const v = readUvarint(this.buf, this.pos, this.end);
    this.pos = varintEnd;
    return v;
  }

  /** Length-prefixed bytes: returns the start offset, leaves `pos` after them. */
  private span(): number {
    const len = this.uvarint();
    if (len > this.end - this.pos) throw new Malformed('field runs past the end of the record');
    const start = this.pos;
    this.pos += len;
    return start;
  }

  str(): string {
    const start = this.span();
    return utf8(this.buf, start, this.pos);
  }

  /** JSON text, or undefined for a zero-length field. Not parsed. */
  jsonText(): string | undefined {
    const start = this.span();
    return start === this.pos ? undefined : utf8(this.buf, start, this.pos);
  }

  /** Skip a length-prefixed field without decoding it. */
  skip(): void {
    this.span();
  }
}

/**
 * End offset of the last `readUvarint` (avoids allocating a result pair). Importers see it live:
 * read it right after the call, before anything else can read a varint.
 */
export let varintEnd = 0;

/** A uvarint at `pos` (at most 2^53-1, at most 10 bytes, before `end`); its end goes to `varintEnd`. */
export function readUvarint(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) throw new Malformed('truncated record');
  let b = buf[pos++];
  if (b < 0x80) {
    varintEnd = pos;
    return b;
  }
  let value = b & 0x7f;
  let scale = 0x80;
  for (let i = 1; i < 10; i++) {
    if (pos >= end) throw new Malformed('truncated varint');
    b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (value > Number.MAX_SAFE_INTEGER) throw new Malformed('varint above 2^53-1');
      varintEnd = pos;
      return value;
    }
    scale *= 0x80;
  }
  throw new Malformed('varint longer than 10 bytes');
}

function utf8(buf: Uint8Array, start: number, end: number): string {
  const len = end - start;
  if (len === 0) return '';
  if (len <= 32) {
    // Short ASCII (ids, channel names, event names) without a trip through TextDecoder.
    let s = '';
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c >= 0x80) return utf8Slow(buf, start, end);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8Slow(buf, start, end);
}

function utf8Slow(buf: Uint8Array, start: number, end: number): string {
  try {
    return decoder.decode(buf.subarray(start, end));
  } catch {
    throw new Malformed('string is not valid UTF-8');
  }
}

/** A `json` field's text parsed, or undefined when it was zero-length. */
export function parseJson(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Malformed(`"${what}" is not valid JSON`);
  }
  // The same rule as the JSON codec: deep data would blow the stack when stored or fanned out.
  if (exceedsJsonDepth(text)) throw new Malformed(`"${what}" nests deeper than ${MAX_JSON_DEPTH} levels`);
  return value;
}
