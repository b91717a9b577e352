/**
 * The numbers of the binary codec: the opcode table, the flag bits and the presence action bytes
 * (docs/internal/foony-wire-notes.md §2.3–2.5). The one place they are written: code that needs an
 * opcode (a transport peeking at a record) imports `BinaryOpcode`; only the golden tests keep literal
 * bytes, on purpose, as a check written independently of this table.
 */

import type { PresenceAction } from '../frames.js';

/** A record's first byte. 1-10 travel client → server, 11-19 server → client. */
export const BinaryOpcode = {
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
export type BinaryOpcode = (typeof BinaryOpcode)[keyof typeof BinaryOpcode];

/** The only `auth` protocol version defined. */
export const AUTH_VERSION = 0;
/** Member / pub / batch flags. */
export const FLAG_EPHEMERAL = 0b01;
export const FLAG_BATCH = 0b10;
/** ack flags: bit0 = `resumed` present, bit1 = its value. */
export const ACK_RESUMED_SET = 0b01;
export const ACK_RESUMED = 0b10;
/** histRes: more; fetchRes: resumed. */
export const RES_FLAG = 0b01;

/** 1 enter / 2 leave / 3 update (strict: the server refuses anything else). */
export function presenceActionFromClient(byte: number): PresenceAction | undefined {
  return byte === 1 ? 'enter' : byte === 2 ? 'leave' : byte === 3 ? 'update' : undefined;
}

/** Server → client: like the SDK, anything but 2/3 reads as enter. */
export function presenceActionFromServer(byte: number): PresenceAction {
  return byte === 2 ? 'leave' : byte === 3 ? 'update' : 'enter';
}

export function presenceActionByte(action: string): number {
  // 'present' (a snapshot member) is not a wire action: it goes out as enter.
  return action === 'leave' ? 2 : action === 'update' ? 3 : 1;
}
