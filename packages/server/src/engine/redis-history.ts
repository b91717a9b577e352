import { randomBytes } from 'node:crypto';
import type { HistoryPage, HistoryQuery, Recovery, StoredMessage } from '../core/engine.js';
import { type RetentionOptions, retentionFor } from './retention.js';
import { orUnavailable, type RedisCommands } from './redis-clients.js';
import type { RedisKeys } from './redis-keys.js';

/** A retained message with its stored size in bytes. */
/** Stream entries read at a time by a paged recovery: a few pieces of the largest messages. */
const RECOVERY_BATCH = 16;

interface HistoryEntry {
  message: StoredMessage;
  bytes: number;
}

/**
 * A channel's past as the Redis engine keeps it: a Stream whose entry ids are the serials (`seq-0`),
 * bounded by MAXLEN and a TTL, and the channel's position (last serial and epoch).
 */
export class RedisHistory {
  constructor(
    private readonly cmd: RedisCommands,
    private readonly keys: RedisKeys,
    private readonly retention: RetentionOptions,
  ) {}

  async position(channelKey: string): Promise<{ seq: number; epoch: string }> {
    const keys = this.keys.channel(channelKey);
    const [seq, epoch] = await orUnavailable(() => this.cmd.mget(keys.seq, keys.epoch));
    if (epoch) return { seq: Number(seq ?? 0), epoch };
    // A channel nobody published to yet: fix its epoch now so cursors taken from it stay valid.
    await orUnavailable(() => this.cmd.set(keys.epoch, randomBytes(6).toString('base64url'), 'PX', this.retention.historyTtlMs * 2, 'NX'));
    const [seq2, epoch2] = await orUnavailable(() => this.cmd.mget(keys.seq, keys.epoch));
    return { seq: Number(seq2 ?? 0), epoch: epoch2 ?? '' };
  }

  async recover(channelKey: string, fromSerial: number, epoch?: string, maxBytes?: number): Promise<Recovery> {
    const read = (start: string) => (maxBytes === undefined ? this.read(channelKey, start, '+').then((messages) => ({ messages })) : this.readWithin(channelKey, start, maxBytes));
    const [current, pos] = await Promise.all([read(`${fromSerial + 1}-0`), this.position(channelKey)]);
    const sameStream = epoch === undefined ? fromSerial <= pos.seq : epoch === pos.epoch;
    if (!sameStream) return { ...pos, ...(await read('-')), resumed: false };
    const oldest = current.messages[0]?.seq ?? pos.seq + 1;
    return { ...pos, ...current, resumed: fromSerial + 1 >= oldest };
  }

  /**
   * The retained messages from `start` on that fit in `maxBytes` (at least one), read a few entries at
   * a time, so a large history is never all in memory for one catch-up.
   */
  private async readWithin(channelKey: string, start: string, maxBytes: number): Promise<{ messages: StoredMessage[]; more: boolean }> {
    const messages: StoredMessage[] = [];
    let bytes = 0;
    for (let from = start; ; ) {
      const batch = await this.batch(channelKey, from, RECOVERY_BATCH);
      for (const entry of batch.kept) {
        if (messages.length > 0 && bytes + entry.bytes > maxBytes) return { messages, more: true };
        messages.push(entry.message);
        bytes += entry.bytes;
      }
      if (batch.read < RECOVERY_BATCH) return { messages, more: false };
      from = `(${batch.lastId}`;
    }
  }

  async page(channelKey: string, query: HistoryQuery): Promise<HistoryPage> {
    const end = query.before === undefined ? '+' : `(${query.before}-0`;
    const all = await this.entries(channelKey, '-', end);
    const forwards = query.direction === 'forwards';
    const take = pageLength(all, query, forwards);
    const page = forwards ? all.slice(0, take) : all.slice(all.length - take);
    return { messages: page.map((e) => e.message), more: all.length > take };
  }

  /** Retained messages between two stream ids. */
  async read(channelKey: string, start: string, end: string): Promise<StoredMessage[]> {
    return (await this.entries(channelKey, start, end)).map((e) => e.message);
  }

  private async entries(channelKey: string, start: string, end: string): Promise<HistoryEntry[]> {
    const entries = await orUnavailable(() => this.cmd.xrange(this.keys.channel(channelKey).history, start, end));
    return this.retained(channelKey, entries);
  }

  /** At most `count` stream entries from `start` on: those still retained, how many were read, the last one's id. */
  private async batch(channelKey: string, start: string, count: number): Promise<{ kept: HistoryEntry[]; read: number; lastId: string }> {
    const entries = await orUnavailable(() => this.cmd.xrange(this.keys.channel(channelKey).history, start, '+', 'COUNT', count));
    return { kept: this.retained(channelKey, entries), read: entries.length, lastId: entries.at(-1)?.[0] ?? start };
  }

  private retained(channelKey: string, entries: Array<[id: string, fields: string[]]>): HistoryEntry[] {
    const oldest = Date.now() - retentionFor(this.retention, channelKey).historyTtlMs;
    return entries
      .map(([, fields]) => ({ message: JSON.parse(fields[1]) as StoredMessage, bytes: Buffer.byteLength(fields[1]) }))
      .filter((e) => e.message.timestamp >= oldest);
  }
}

/** How many entries a page takes: the limit, cut to the byte budget (counted from the stored sizes; at least one message). */
function pageLength(all: HistoryEntry[], query: HistoryQuery, forwards: boolean): number {
  const take = Math.min(query.limit, all.length);
  if (query.maxBytes === undefined) return take;
  let bytes = 0;
  for (let n = 0; n < take; n++) {
    bytes += all[forwards ? n : all.length - 1 - n].bytes;
    if (bytes > query.maxBytes && n > 0) return n;
  }
  return take;
}
