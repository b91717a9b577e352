/**
 * The message layouts shared by several records (docs/internal/foony-wire-notes.md §2.5): a *member*
 * of `msg` / `histRes` / `fetchRes`, the *batch fields* after a flags byte, and the batch members a
 * `pub` also carries. Written and read side by side so the two cannot drift apart.
 */

import type { BatchMember, MessageFrame } from '../frames.js';
import { FLAG_BATCH, FLAG_EPHEMERAL } from './opcodes.js';
import { type Reader, parseJson } from './reader.js';
import type { Writer } from './writer.js';

/** A member: its flags byte, then a single message's fields or a batch's. */
export function writeMember(w: Writer, m: MessageFrame, channel: string): void {
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

/** `uvarint count` then `str name | json data | str encoding` per member. */
export function writeBatchMembers(w: Writer, members: readonly BatchMember[]): void {
  w.uvarint(members.length);
  for (const member of members) {
    w.str(member.name);
    w.json(member.data);
    w.str(member.encoding ?? '');
  }
}

export function readMember(r: Reader): MessageFrame {
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

/** The batch fields after `flags` (a member's flags, or an opcode-19 record's). */
export function readBatchFields(r: Reader, flags: number): MessageFrame {
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
