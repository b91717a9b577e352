/**
 * Server side, outbound: server frames as length-prefixed server → client records, and bundles (one
 * `msg` record carrying several messages of a channel), either encoded whole or put together from
 * the member bytes of records already encoded (layouts: docs/internal/foony-wire-notes.md §2.5, §3).
 */

import type { MessageFrame, ServerFrame } from '../frames.js';
import { writeMember } from './members.js';
import { ACK_RESUMED, ACK_RESUMED_SET, BinaryOpcode as Op, RES_FLAG, presenceActionByte } from './opcodes.js';
import { readUvarint, varintEnd } from './reader.js';
import { type Writer, encodeRecord, putUvarint, uvarintSize } from './writer.js';

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

function writeResponse(w: Writer, op: Op, flag: boolean, id: number, channel: string, messages: readonly MessageFrame[]): void {
  w.u8(op);
  w.u8(flag ? RES_FLAG : 0);
  w.uvarint(id);
  w.str(channel);
  w.uvarint(messages.length);
  for (const m of messages) writeMember(w, m, channel);
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
