/**
 * Server side, inbound: client → server records decoded into the frames `decodeClientFrame` gives
 * for the equivalent JSON, validated the same way (layouts: docs/internal/foony-wire-notes.md §2.4).
 * Untrusted bytes: a bad record becomes a FrameError and never throws.
 */

import { FrameError } from '../codec.js';
import type { BatchMember, ClientFrame } from '../frames.js';
import { MESSAGE_ID_RULE, isValidChannelName, isValidMessageId } from '../names.js';
import { AUTH_VERSION, BinaryOpcode as Op, FLAG_EPHEMERAL, presenceActionFromClient } from './opcodes.js';
import { Malformed, Reader, parseJson, readUvarint, varintEnd } from './reader.js';

/** Batch members accepted in one binary `pub` (the SDK's `publish([...])`/`batchPublish` go to 1000). */
export const MAX_BINARY_BATCH = 1000;
const CHANNEL_RULE = 'invalid channel name: use 1-255 of [A-Za-z0-9._:-], not starting or ending with "."';

/** Does the first record's opcode say `auth`? Read without decoding the record (it may be too big to). */
export function startsWithAuthRecord(bytes: Uint8Array): boolean {
  try {
    readUvarint(bytes, 0, bytes.length);
  } catch {
    return false;
  }
  return bytes[varintEnd] === Op.Auth;
}

/**
 * Split one binary message into records and decode each client → server record into the frame
 * `decodeClientFrame` would give for the equivalent JSON. A record that fails becomes a FrameError
 * (40001, with `requestId` when the id could be read) and decoding goes on with the next record; a
 * broken length prefix ends the message with one FrameError after what was decoded. At most
 * `maxRecords` entries are returned, so a caller can refuse a message with too many.
 */
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
        if (!isValidMessageId(messageId)) {
          throw new Malformed(`"messageId" must be a string of ${MESSAGE_ID_RULE}`);
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
