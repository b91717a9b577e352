import { bundleHead, messageRecordMember } from '@hubbub/protocol';
import type { Dialect } from '../../core/dialect.js';
import type { Outbound } from '../../core/outbound.js';
import type { OutputBatch } from '../../core/dialect.js';

/** Where a shared channel message keeps its bytes as a bundle member (the `Outbound` memo key). */
const MEMBER = {};

/**
 * Binary records waiting to go to one connection, written out together as one message. Consecutive
 * messages of the same channel leave as one bundle record; their member bytes are the shared
 * encoding, so coalescing costs a few header bytes, not a re-encode per subscriber.
 */
export class RecordBatch implements OutputBatch {
  private records: Uint8Array[] = [];
  /** Per queued record: the channel and member bytes when it is a shared channel message. */
  private members: Array<Uint8Array | undefined> = [];
  private channels: Array<string | undefined> = [];
  bytes = 0;

  constructor(private readonly dialect: Dialect) {}

  get length(): number {
    return this.records.length;
  }

  push(record: Uint8Array): void {
    this.records.push(record);
    this.members.push(undefined);
    this.channels.push(undefined);
    this.bytes += record.length;
  }

  pushShared(out: Outbound): void {
    const record = out.encodedFor(this.dialect) as Uint8Array | undefined;
    if (!record) return;
    this.records.push(record);
    this.members.push(out.frame.t === 'msg' ? out.memo(MEMBER, () => messageRecordMember(record)) : undefined);
    this.channels.push(out.channel);
    this.bytes += record.length;
  }

  take(): { pieces: Uint8Array[]; length: number } {
    const pieces: Uint8Array[] = [];
    let length = 0;
    const { records, members, channels } = this;
    for (let i = 0; i < records.length; ) {
      let end = i + 1;
      if (members[i]) while (end < records.length && members[end] && channels[end] === channels[i]) end++;
      if (end - i === 1) {
        pieces.push(records[i]);
        length += records[i].length;
      } else {
        const run = members.slice(i, end) as Uint8Array[];
        const head = bundleHead(run);
        pieces.push(head, ...run);
        length += head.length;
        for (const m of run) length += m.length;
      }
      i = end;
    }
    this.clear();
    return { pieces, length };
  }

  clear(): void {
    this.records = [];
    this.members = [];
    this.channels = [];
    this.bytes = 0;
  }
}
