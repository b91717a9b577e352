import type { HistoryPage, HistoryQuery, StoredMessage } from './engine.js';

const MIN_ARENA = 1024;
const MIN_ENTRIES = 16;

/**
 * One channel's retained messages, oldest first, kept as UTF-8 JSON in one byte arena per channel,
 * with each message's offset, serial and time in typed arrays beside it.
 *
 * Why bytes: a retained message object (with its data, strings and numbers) outlives a young
 * generation collection and is copied out of it, and at thousands of publishes a second that copying
 * was most of the collector's pauses, and so of the publish→ack p99. Bytes in a buffer are not on the
 * JavaScript heap at all, and appending or dropping messages allocates nothing but, now and then, a
 * bigger arena. Reads parse what they return; they are rare next to publishes.
 */
export class MessageLog {
  private arena = Buffer.alloc(0);
  /** Bytes in use: live entries sit between `starts[head]` and `tail`. */
  private tail = 0;
  private starts = new Float64Array(0);
  private seqs = new Float64Array(0);
  private times = new Float64Array(0);
  /** Entries `head` to `end` are live; those before `head` were dropped and are compacted away now and then. */
  private head = 0;
  private end = 0;

  get length(): number {
    return this.end - this.head;
  }

  /** The serial of the oldest retained message. */
  get oldestSeq(): number | undefined {
    return this.length > 0 ? this.seqs[this.head] : undefined;
  }

  /** `message.seq` is set and greater than every serial already here. */
  append(message: StoredMessage): void {
    const text = JSON.stringify(message);
    // A UTF-16 code unit never takes more than 3 bytes of UTF-8.
    if (this.tail + 3 * text.length > this.arena.length || this.end === this.seqs.length) this.compact(3 * text.length);
    const i = this.end++;
    this.starts[i] = this.tail;
    this.seqs[i] = message.seq!;
    this.times[i] = message.timestamp;
    this.tail += this.arena.write(text, this.tail);
  }

  /** Keep at most `limit` messages, none older than `ttlMs`. */
  trim(limit: number, ttlMs: number, now: number): void {
    const end = this.end;
    let head = Math.max(this.head, end - limit);
    while (head < end && this.times[head] < now - ttlMs) head++;
    if (head === this.head) return;
    this.head = head;
    if (head === end) this.clear();
  }

  all(): StoredMessage[] {
    return this.read(this.head, this.end);
  }

  /** Every retained message with a serial above `seq`. */
  after(seq: number): StoredMessage[] {
    return this.read(this.firstIndex((s) => s > seq), this.end);
  }

  /** A page as `Engine.history` returns it. */
  page(query: HistoryQuery): HistoryPage {
    const before = query.before;
    const end = before === undefined ? this.end : this.firstIndex((s) => s >= before);
    const count = end - this.head;
    const take = Math.min(query.limit, count);
    const from = query.direction === 'forwards' ? this.head : end - take;
    return { messages: this.read(from, from + take), more: count > query.limit };
  }

  /** The index of the first entry whose serial passes `test`, which holds from some serial on (serials only grow). */
  private firstIndex(test: (seq: number) => boolean): number {
    let lo = this.head;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (test(this.seqs[mid])) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private read(from: number, to: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let i = from; i < to; i++) {
      const end = i + 1 < this.end ? this.starts[i + 1] : this.tail;
      out.push(JSON.parse(this.arena.toString('utf8', this.starts[i], end)) as StoredMessage);
    }
    return out;
  }

  /** Nothing is retained: let the arena and the arrays go (an idle channel holds no buffers). */
  private clear(): void {
    this.arena = Buffer.alloc(0);
    this.tail = 0;
    this.starts = new Float64Array(0);
    this.seqs = new Float64Array(0);
    this.times = new Float64Array(0);
    this.head = 0;
    this.end = 0;
  }

  /**
   * Move the live entries to the front, with room for `need` more bytes and at least one more entry.
   * Half of each stays free after a move, so moves are rare: amortised O(1) per message appended.
   */
  private compact(need: number): void {
    const from = this.head < this.end ? this.starts[this.head] : this.tail;
    const live = this.tail - from;
    this.arena = moved(this.arena, from, this.tail, Math.max(MIN_ARENA, 2 * (live + need)));
    this.tail = live;
    const count = this.end - this.head;
    const entries = Math.max(MIN_ENTRIES, 2 * (count + 1));
    this.starts = moved(this.starts, this.head, this.end, entries);
    this.seqs = moved(this.seqs, this.head, this.end, entries);
    this.times = moved(this.times, this.head, this.end, entries);
    for (let i = 0; i < count; i++) this.starts[i] -= from;
    this.head = 0;
    this.end = count;
  }
}

/**
 * `array[from, to)` moved to the front of an array of about `wanted` elements: the same one when its
 * size is within 4× of that, else a new one.
 */
function moved<T extends Float64Array | Buffer>(array: T, from: number, to: number, wanted: number): T {
  if (array.length >= wanted && array.length <= 4 * wanted) {
    array.copyWithin(0, from, to);
    return array;
  }
  const fresh = (array instanceof Buffer ? Buffer.allocUnsafeSlow(wanted) : new Float64Array(wanted)) as T;
  fresh.set(array.subarray(from, to));
  return fresh;
}
