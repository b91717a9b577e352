/**
 * Client side (tests, Node clients), inbound: server → client records decoded into server frames
 * (layouts: docs/internal/foony-wire-notes.md §2.5). The server is trusted: a bad record throws.
 */

import { FrameError } from '../codec.js';
import type { FetchResponseFrame, HistoryResponseFrame, MessageFrame, PresenceEventFrame, ServerFrame } from '../frames.js';
import { readBatchFields, readMember } from './members.js';
import { ACK_RESUMED, ACK_RESUMED_SET, BinaryOpcode as Op, RES_FLAG, presenceActionFromServer } from './opcodes.js';
import { Malformed, Reader, parseJson, readUvarint, varintEnd } from './reader.js';

/**
 * Split one binary message into server records and decode them. A `msg` record with several
 * members (a bundle) yields one MessageFrame per member; opcode 19 (batch) and batch members give a
 * MessageFrame with `messages`. Unknown opcodes are skipped (the server may add its own); a
 * malformed record or length prefix throws a FrameError (the server is trusted).
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
