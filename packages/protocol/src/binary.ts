/**
 * The binary opcode codec (the wire format of Foony's `@foony/realtime` SDK), mapped onto the same
 * frame objects as the JSON codec in `codec.ts`. Layouts: docs/internal/foony-wire-notes.md §2–3.
 *
 * A binary WebSocket message (or long-poll body) is a run of records, each `uvarint(length) || record`;
 * a record is a one-byte opcode and that opcode's fields. Field types:
 *   uvarint  LEB128, at most 2^53-1
 *   str      uvarint byte length + UTF-8; empty = absent for optional strings
 *   json     uvarint byte length + JSON text; zero length = undefined
 * Optional numbers (`lastSerial`, `limit`, `before`, `seq`) travel as 0 when absent.
 *
 * Server side: `decodeClientRecords` (client → server records, validated like `decodeClientFrame`)
 * and `encodeServerFrame` / `encodeMessageBundle` (one length-prefixed record each).
 * Client side (tests, Node clients): `encodeClientFrame` and `decodeServerRecords`.
 */

import { MAX_JSON_DEPTH, exceedsJsonDepth } from './json-depth.js';
import { FrameError } from './codec.js';
import { isValidChannelName } from './names.js';
import type {
  BatchMember,
  ClientFrame,
  FetchResponseFrame,
  HistoryResponseFrame,
  MessageFrame,
  PresenceAction,
  PresenceEventFrame,
  ServerFrame,
} from './frames.js';

const Op = {
  Auth: 1,
  Sub: 2,
  Unsub: 3,
  Pub: 4,
  Pres: 5,
  PresSub: 6,
  PresUnsub: 7,
  Hist: 8,
  Fetch: 9,
  Ping: 10,
  Connected: 11,
  Ack: 12,
  Msg: 13,
  PresEvt: 14,
  Err: 15,
  Pong: 16,
  HistRes: 17,
  FetchRes: 18,
  Batch: 19,
} as const;
type Opcode = (typeof Op)[keyof typeof Op];

/** The only `auth` protocol version defined. */
const AUTH_VERSION = 0;
/** Member / pub / batch flags. */
const FLAG_EPHEMERAL = 0b01;
const FLAG_BATCH = 0b10;
/** ack flags: bit0 = `resumed` present, bit1 = its value. */
const ACK_RESUMED_SET = 0b01;
const ACK_RESUMED = 0b10;
/** histRes: more; fetchRes: resumed. */
const RES_FLAG = 0b01;

/** Batch members accepted in one binary `pub` (the SDK's `publish([...])`/`batchPublish` go to 1000). */
export const MAX_BINARY_BATCH = 1000;
const MAX_MESSAGE_ID = 128;
const CHANNEL_RULE = 'invalid channel name: use 1-255 of [A-Za-z0-9._:-], not starting or ending with "."';

const encoder = new TextEncoder();
/** Strict UTF-8 (bad bytes are a malformed record) that keeps a leading BOM as text. */
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Reading

/** A record that cannot be read; turned into a FrameError (with the request id when known). */
class Malformed extends Error {}

class Reader {
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

/** End offset of the last `readUvarint` (avoids allocating a result pair). */
let varintEnd = 0;

function readUvarint(buf: Uint8Array, pos: number, end: number): number {
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

function parseJson(text: string | undefined, what: string): unknown {
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

/** 1 enter / 2 leave / 3 update (strict: the server refuses anything else). */
function presenceActionFromClient(byte: number): PresenceAction | undefined {
  return byte === 1 ? 'enter' : byte === 2 ? 'leave' : byte === 3 ? 'update' : undefined;
}

/** Server → client: like the SDK, anything but 2/3 reads as enter. */
function presenceActionFromServer(byte: number): PresenceAction {
  return byte === 2 ? 'leave' : byte === 3 ? 'update' : 'enter';
}

function presenceActionByte(action: string): number {
  // 'present' (a snapshot member) is not a wire action: it goes out as enter.
  return action === 'leave' ? 2 : action === 'update' ? 3 : 1;
}

/**
 * Server side: split one binary message into records and decode each client → server record into
 * the frame `decodeClientFrame` would give for the equivalent JSON. A record that fails becomes a
 * FrameError (40001, with `requestId` when the id could be read) and decoding goes on with the next
 * record; a broken length prefix ends the message with one FrameError after what was decoded.
 */
/** Does the first record's opcode say `auth`? Read without decoding the record (it may be too big to). */
export function startsWithAuthRecord(bytes: Uint8Array): boolean {
  try {
    readUvarint(bytes, 0, bytes.length);
  } catch {
    return false;
  }
  return bytes[varintEnd] === Op.Auth;
}

export function decodeClientRecords(bytes: Uint8Array, maxRecords = Infinity): Array<ClientFrame | FrameError> {
  const out: Array<ClientFrame | FrameError> = [];
  const total = bytes.length;
  let pos = 0;
  while (pos < total && out.length < maxRecords) {
    let len: number;
    try {
      len = readUvarint(bytes, pos, total);
    } catch (err) {
      out.push(new FrameError(`bad record length prefix: ${(err as Error).message}`));
      break;
    }
    const start = varintEnd;
    if (len > total - start) {
      out.push(new FrameError(`bad record length prefix: ${len} bytes announced, ${total - start} left`));
      break;
    }
    out.push(decodeClientRecord(bytes, start, start + len));
    pos = start + len;
  }
  return out;
}

function decodeClientRecord(buf: Uint8Array, start: number, end: number): ClientFrame | FrameError {
  const r = new Reader(buf, start, end);
  let id: number | undefined;
  try {
    if (start === end) throw new Malformed('empty record');
    const op = r.u8();
    switch (op) {
      case Op.Auth: {
        const version = r.u8();
        if (version !== AUTH_VERSION) throw new Malformed(`unsupported binary protocol version ${version}`);
        const token = r.str();
        const key = r.str();
        const clientId = r.str();
        const resumeConnectionId = r.str();
        return {
          t: 'auth',
          token: token || undefined,
          key: key || undefined,
          clientId: clientId || undefined,
          resumeConnectionId: resumeConnectionId || undefined,
          echo: undefined,
        };
      }
      case Op.Sub: {
        id = r.uvarint();
        const lastSerial = r.uvarint();
        const channel = channelOf(r);
        return { t: 'sub', id, channel, lastSerial: lastSerial || undefined, epoch: undefined };
      }
      case Op.Unsub:
        id = r.uvarint();
        return { t: 'unsub', id, channel: channelOf(r) };
      case Op.PresSub:
        id = r.uvarint();
        return { t: 'presSub', id, channel: channelOf(r) };
      case Op.PresUnsub:
        id = r.uvarint();
        return { t: 'presUnsub', id, channel: channelOf(r) };
      case Op.Pub: {
        const flags = r.u8();
        id = r.uvarint();
        const channel = channelOf(r);
        const nameStart = r.pos;
        r.skip(); // name, data, encoding: read below only for a single message
        r.skip();
        r.skip();
        const messageId = r.str();
        if (messageId.length < 1 || messageId.length > MAX_MESSAGE_ID) {
          throw new Malformed('"messageId" must be a string of 1-128 characters');
        }
        r.uvarint(); // reserved (was a per-message TTL): read and ignored
        const count = r.uvarint();
        const ephemeral = flags & FLAG_EPHEMERAL ? true : undefined;
        if (count > 0) {
          if (count > MAX_BINARY_BATCH) throw new Malformed(`"messages" must be an array of 1-${MAX_BINARY_BATCH} messages`);
          const messages: BatchMember[] = new Array(count);
          for (let i = 0; i < count; i++) {
            const name = r.str();
            const data = parseJson(r.jsonText(), 'data');
            const encoding = r.str();
            messages[i] = encoding ? { name, data, encoding } : { name, data };
          }
          // A batch: the top-level name/data/encoding ("", null, "") are ignored, as in the JSON codec.
          return { t: 'pub', id, channel, name: '', data: undefined, messageId, encoding: undefined, messages, ephemeral };
        }
        const single = new Reader(buf, nameStart, end);
        const name = single.str();
        const data = parseJson(single.jsonText(), 'data');
        const encoding = single.str();
        return { t: 'pub', id, channel, name, data, messageId, encoding: encoding || undefined, messages: undefined, ephemeral };
      }
      case Op.Pres: {
        const actionByte = r.u8();
        id = r.uvarint();
        const channel = channelOf(r);
        const action = presenceActionFromClient(actionByte);
        if (!action) throw new Malformed('"action" must be enter, update or leave');
        const data = parseJson(r.jsonText(), 'data');
        const encoding = r.str();
        return { t: 'pres', id, channel, action, data, encoding: encoding || undefined };
      }
      case Op.Hist: {
        id = r.uvarint();
        const limit = r.uvarint();
        const channel = channelOf(r);
        const before = r.uvarint();
        return { t: 'hist', id, channel, limit: limit || undefined, before: before || undefined, direction: undefined };
      }
      case Op.Fetch: {
        id = r.uvarint();
        const fromSerial = r.uvarint();
        return { t: 'fetch', id, channel: channelOf(r), fromSerial };
      }
      case Op.Ping:
        return { t: 'ping', id: undefined };
      default:
        throw new Malformed(`unknown opcode ${op}`);
    }
  } catch (err) {
    return new FrameError(err instanceof Error ? err.message : 'malformed record', id);
  }
}

function channelOf(r: Reader): string {
  const channel = r.str();
  if (!isValidChannelName(channel)) throw new Malformed(CHANNEL_RULE);
  return channel;
}

/**
 * Client side: split one binary message into server records and decode them. A `msg` record with
 * several members (a bundle) yields one MessageFrame per member; opcode 19 (batch) and batch
 * members give a MessageFrame with `messages`. Unknown opcodes are skipped (the server may add its
 * own); a malformed record or length prefix throws a FrameError (the server is trusted).
 */
export function decodeServerRecords(bytes: Uint8Array): ServerFrame[] {
  const out: ServerFrame[] = [];
  const total = bytes.length;
  let pos = 0;
  try {
    while (pos < total) {
      const len = readUvarint(bytes, pos, total);
      const start = varintEnd;
      if (len > total - start) throw new Malformed('bad record length prefix');
      decodeServerRecord(new Reader(bytes, start, start + len), out);
      pos = start + len;
    }
  } catch (err) {
    throw new FrameError(`bad server record: ${err instanceof Error ? err.message : String(err)}`);
  }
  return out;
}

function decodeServerRecord(r: Reader, out: ServerFrame[]): void {
  const op = r.u8();
  switch (op) {
    case Op.Connected: {
      const connectionId = r.str();
      const keepAliveMs = r.uvarint();
      out.push({ t: 'connected', connectionId, keepAliveMs, clientId: r.str() });
      return;
    }
    case Op.Ack: {
      const flags = r.u8();
      const id = r.uvarint();
      const seq = r.uvarint();
      out.push({
        t: 'ack',
        id,
        ...(seq ? { seq } : {}),
        ...(flags & ACK_RESUMED_SET ? { resumed: (flags & ACK_RESUMED) !== 0 } : {}),
      });
      return;
    }
    case Op.Msg: {
      const count = r.uvarint();
      for (let i = 0; i < count; i++) out.push(readMember(r));
      return;
    }
    case Op.Batch:
      out.push(readBatchFields(r, r.u8()));
      return;
    case Op.PresEvt: {
      const action = presenceActionFromServer(r.u8());
      const timestamp = r.uvarint();
      const channel = r.str();
      const clientId = r.str();
      const connectionId = r.str();
      const data = parseJson(r.jsonText(), 'data');
      const encoding = r.str();
      const frame: PresenceEventFrame = { t: 'presEvt', channel, action, clientId, connectionId, timestamp };
      if (data !== undefined) frame.data = data;
      if (encoding) frame.encoding = encoding;
      out.push(frame);
      return;
    }
    case Op.Err: {
      const id = r.uvarint();
      const code = r.uvarint();
      const message = r.str();
      out.push(id ? { t: 'err', id, code, message } : { t: 'err', code, message });
      return;
    }
    case Op.Pong:
      out.push({ t: 'pong' });
      return;
    case Op.HistRes:
    case Op.FetchRes: {
      const flag = (r.u8() & RES_FLAG) !== 0;
      const id = r.uvarint();
      const channel = r.str();
      const count = r.uvarint();
      const messages: MessageFrame[] = [];
      for (let i = 0; i < count; i++) messages.push(readMember(r));
      const frame: HistoryResponseFrame | FetchResponseFrame =
        op === Op.HistRes
          ? { t: 'histRes', id, channel, messages, ...(flag ? { more: true } : {}) }
          : { t: 'fetchRes', id, channel, messages, resumed: flag };
      out.push(frame);
      return;
    }
    default:
      return; // unknown opcode: skipped, like the SDK does
  }
}

function readMember(r: Reader): MessageFrame {
  const flags = r.u8();
  if (flags & FLAG_BATCH) return readBatchFields(r, flags);
  const timestamp = r.uvarint();
  const channel = r.str();
  const name = r.str();
  const data = parseJson(r.jsonText(), 'data');
  const messageId = r.str();
  const clientId = r.str();
  const encoding = r.str();
  const seq = r.uvarint();
  const m: MessageFrame = { t: 'msg', channel, name, data, messageId, timestamp };
  if (clientId) m.clientId = clientId;
  if (encoding) m.encoding = encoding;
  if (seq) m.seq = seq;
  if (flags & FLAG_EPHEMERAL) m.ephemeral = true;
  return m;
}

function readBatchFields(r: Reader, flags: number): MessageFrame {
  const timestamp = r.uvarint();
  const channel = r.str();
  const messageId = r.str();
  const clientId = r.str();
  const seq = r.uvarint();
  const count = r.uvarint();
  const messages: BatchMember[] = [];
  for (let i = 0; i < count; i++) {
    const name = r.str();
    const data = parseJson(r.jsonText(), 'data');
    const encoding = r.str();
    messages.push(encoding ? { name, data, encoding } : { name, data });
  }
  const m: MessageFrame = { t: 'msg', channel, name: '', data: undefined, messageId, timestamp };
  if (clientId) m.clientId = clientId;
  if (seq) m.seq = seq;
  m.messages = messages;
  if (flags & FLAG_EPHEMERAL) m.ephemeral = true;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Bytes kept free in front of a record for its length prefix (5 bytes cover records < 32 GiB). */
const HEAD = 5;
const INITIAL_CAPACITY = 512;
/** A scratch buffer that grew past this is not kept for the next encode. */
const MAX_KEPT_CAPACITY = 1 << 20;

/** Growable byte buffer for one record; `finish` prefixes the length and copies out exactly. */
class Writer {
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

function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes `v` at `pos` (room already made); returns the end offset. */
function putUvarint(buf: Uint8Array, pos: number, v: number): number {
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

function encodeRecord(write: (w: Writer) => void): Uint8Array {
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

function writeMember(w: Writer, m: MessageFrame, channel: string): void {
  const batch = m.messages !== undefined && m.messages.length > 0;
  w.u8((m.ephemeral ? FLAG_EPHEMERAL : 0) | (batch ? FLAG_BATCH : 0));
  if (batch) {
    writeBatchFields(w, m, channel);
    return;
  }
  w.uvarint(m.timestamp);
  w.str(channel);
  w.str(m.name);
  w.json(m.data);
  w.str(m.messageId);
  w.str(m.clientId ?? '');
  w.str(m.encoding ?? '');
  w.uvarint(m.seq ?? 0);
}

function writeBatchFields(w: Writer, m: MessageFrame, channel: string): void {
  w.uvarint(m.timestamp);
  w.str(channel);
  w.str(m.messageId);
  w.str(m.clientId ?? '');
  w.uvarint(m.seq ?? 0);
  writeBatchMembers(w, m.messages ?? []);
}

function writeBatchMembers(w: Writer, members: readonly BatchMember[]): void {
  w.uvarint(members.length);
  for (const member of members) {
    w.str(member.name);
    w.json(member.data);
    w.str(member.encoding ?? '');
  }
}

function writeResponse(w: Writer, op: Opcode, flag: boolean, id: number, channel: string, messages: readonly MessageFrame[]): void {
  w.u8(op);
  w.u8(flag ? RES_FLAG : 0);
  w.uvarint(id);
  w.str(channel);
  w.uvarint(messages.length);
  for (const m of messages) writeMember(w, m, channel);
}

/**
 * One server frame as one length-prefixed record. A `msg` goes out as a one-member `msg` record
 * (a batch as a member with the batch flag). Fields without a binary slot (`ack.epoch`,
 * `ack.duplicate`, `ack.members`, `connected.expiresAt`, `err.channel`, ping/pong ids) are dropped;
 * a frame with no binary form at all (`evt`) throws.
 */
export function encodeServerFrame(frame: ServerFrame): Uint8Array {
  switch (frame.t) {
    case 'connected':
      return encodeRecord((w) => {
        w.u8(Op.Connected);
        w.str(frame.connectionId);
        w.uvarint(frame.keepAliveMs);
        w.str(frame.clientId);
      });
    case 'ack':
      return encodeRecord((w) => {
        w.u8(Op.Ack);
        w.u8(frame.resumed === undefined ? 0 : ACK_RESUMED_SET | (frame.resumed ? ACK_RESUMED : 0));
        w.uvarint(frame.id);
        w.uvarint(frame.seq ?? 0);
      });
    case 'msg':
      return encodeRecord((w) => {
        w.u8(Op.Msg);
        w.u8(1);
        writeMember(w, frame, frame.channel);
      });
    case 'presEvt':
      return encodeRecord((w) => {
        w.u8(Op.PresEvt);
        w.u8(presenceActionByte(frame.action));
        w.uvarint(frame.timestamp);
        w.str(frame.channel);
        w.str(frame.clientId);
        w.str(frame.connectionId);
        w.json(frame.data);
        w.str(frame.encoding ?? '');
      });
    case 'err':
      return encodeRecord((w) => {
        w.u8(Op.Err);
        w.uvarint(frame.id ?? 0);
        w.uvarint(frame.code);
        w.str(frame.message);
      });
    case 'pong':
      return encodeRecord((w) => w.u8(Op.Pong));
    case 'histRes':
      return encodeRecord((w) => writeResponse(w, Op.HistRes, frame.more === true, frame.id, frame.channel, frame.messages));
    case 'fetchRes':
      return encodeRecord((w) => writeResponse(w, Op.FetchRes, frame.resumed, frame.id, frame.channel, frame.messages));
    default:
      throw new Error(`binary codec: server frame "${(frame as { t: string }).t}" has no binary form`);
  }
}

/**
 * Several messages of one channel, in serial order, as one coalesced `msg` record (a bundle),
 * length prefix included. Each member keeps its own timestamp, messageId, clientId, seq and flags.
 */
export function encodeMessageBundle(channel: string, messages: readonly MessageFrame[]): Uint8Array {
  if (messages.length === 0) throw new Error('binary codec: a message bundle needs at least one message');
  for (const m of messages) {
    if (m.channel !== channel) throw new Error(`binary codec: bundle for "${channel}" holds a message of "${m.channel}"`);
  }
  return encodeRecord((w) => {
    w.u8(Op.Msg);
    w.uvarint(messages.length);
    for (const m of messages) writeMember(w, m, channel);
  });
}

/**
 * The member bytes of a one-message `msg` record as `encodeServerFrame` makes it, or undefined for
 * any other record. Lets a transport send consecutive deliveries of one channel as a bundle
 * (`bundleHead` + members) without encoding them again.
 */
export function messageRecordMember(record: Uint8Array): Uint8Array | undefined {
  readUvarint(record, 0, record.length);
  const start = varintEnd;
  if (record[start] !== Op.Msg || record[start + 1] !== 1) return undefined;
  return record.subarray(start + 2);
}

/** Length prefix, opcode and count of a bundle whose members (from `messageRecordMember`) follow it. */
export function bundleHead(members: readonly Uint8Array[]): Uint8Array {
  const countSize = uvarintSize(members.length);
  let body = 1 + countSize;
  for (const m of members) body += m.length;
  const head = new Uint8Array(uvarintSize(body) + 1 + countSize);
  let p = putUvarint(head, 0, body);
  head[p++] = Op.Msg;
  putUvarint(head, p, members.length);
  return head;
}

/**
 * One client frame as one length-prefixed record (what the Foony SDK sends). Fields without a binary
 * slot (`auth.echo`, `sub.epoch`, ping ids) are dropped; a batch publish carries the SDK's top-level
 * `""`/`null`/`""`. Throws for frames with no binary form (`tsub`, `tunsub`, `dm`) and for
 * `hist` with `direction: 'forwards'` (binary history is always backwards).
 */
export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  switch (frame.t) {
    case 'auth':
      return encodeRecord((w) => {
        w.u8(Op.Auth);
        w.u8(AUTH_VERSION);
        w.str(frame.token ?? '');
        w.str(frame.key ?? '');
        w.str(frame.clientId ?? '');
        w.str(frame.resumeConnectionId ?? '');
      });
    case 'sub':
      return encodeRecord((w) => {
        w.u8(Op.Sub);
        w.uvarint(frame.id);
        w.uvarint(frame.lastSerial ?? 0);
        w.str(frame.channel);
      });
    case 'unsub':
    case 'presSub':
    case 'presUnsub': {
      const op = frame.t === 'unsub' ? Op.Unsub : frame.t === 'presSub' ? Op.PresSub : Op.PresUnsub;
      return encodeRecord((w) => {
        w.u8(op);
        w.uvarint(frame.id);
        w.str(frame.channel);
      });
    }
    case 'pub':
      return encodeRecord((w) => {
        const batch = frame.messages !== undefined && frame.messages.length > 0;
        w.u8(Op.Pub);
        w.u8(frame.ephemeral ? FLAG_EPHEMERAL : 0);
        w.uvarint(frame.id);
        w.str(frame.channel);
        if (batch) {
          w.u8(0); // name ""
          w.str('null'); // data null
          w.u8(0); // encoding ""
        } else {
          w.str(frame.name);
          w.json(frame.data);
          w.str(frame.encoding ?? '');
        }
        w.str(frame.messageId);
        w.u8(0); // reserved
        writeBatchMembers(w, batch ? frame.messages! : []);
      });
    case 'pres':
      return encodeRecord((w) => {
        w.u8(Op.Pres);
        w.u8(presenceActionByte(frame.action));
        w.uvarint(frame.id);
        w.str(frame.channel);
        w.json(frame.data);
        w.str(frame.encoding ?? '');
      });
    case 'hist':
      if (frame.direction === 'forwards') throw new Error('binary codec: hist has no forwards direction');
      return encodeRecord((w) => {
        w.u8(Op.Hist);
        w.uvarint(frame.id);
        w.uvarint(frame.limit ?? 0);
        w.str(frame.channel);
        w.uvarint(frame.before ?? 0);
      });
    case 'fetch':
      return encodeRecord((w) => {
        w.u8(Op.Fetch);
        w.uvarint(frame.id);
        w.uvarint(frame.fromSerial);
        w.str(frame.channel);
      });
    case 'ping':
      return encodeRecord((w) => w.u8(Op.Ping));
    default:
      throw new Error(`binary codec: client frame "${frame.t}" has no binary form`);
  }
}
