import type { HistoryPage, HistoryQuery, StoredMessage } from '../core/engine.js';

// Small to start with: a channel with a message or two should cost about what its messages do.
const MIN_ARENA = 256;
const MIN_ENTRIES = 4;
const STRIDE = 3;
const EMPTY = Buffer.alloc(0);
const NO_ENTRIES = new Float64Array(0);

/**
 * One channel's retained messages, oldest first, kept as UTF-8 JSON in one byte arena per channel,
 * with each message's offset, serial and time in one typed array beside it: no object per entry, and
 * no allocation per append but, now and then, a bigger arena or index.
 *
 * Why bytes: a retained message object (with its data, strings and numbers) outlives a young
 * generation collection and is copied out of it, and at thousands of publishes a second that copying
 * was most of the collector's pauses, and so of the publish→ack p99. Bytes in a buffer are not on the
 * JavaScript heap at all. Reads parse what they return; they are rare next to publishes.
 */
export class MessageLog {
  private arena = EMPTY;
  /** Bytes in use: live entries sit between the head entry's start and `tail`. */
  private tail = 0;
  /** Per entry, `STRIDE` numbers: its offset in the arena, its serial, its time. Grown by doubling. */
  private index = NO_ENTRIES;
  /** Entries `head` to `end` are live; those before `head` were dropped and are compacted away now and then. */
  private head = 0;
  private end = 0;

  private start(i: number): number {
    return this.index[i * STRIDE];
  }

  private seq(i: number): number {
    return this.index[i * STRIDE + 1];
  }

  private time(i: number): number {
    return this.index[i * STRIDE + 2];
  }

  get length(): number {
    return this.end - this.head;
  }

  /** Bytes the retained messages take in the arena. */
  get bytes(): number {
    return this.length > 0 ? this.tail - this.start(this.head) : 0;
  }

  /** The serial of the oldest retained message. */
  get oldestSeq(): number | undefined {
    return this.length > 0 ? this.seq(this.head) : undefined;
  }

  /** `message.seq` is set and greater than every serial already here. */
  append(message: StoredMessage): void {
    const text = JSON.stringify(message);
    const bytes = Buffer.byteLength(text);
    if (this.tail + bytes > this.arena.length) this.compact(bytes);
    if ((this.end + 1) * STRIDE > this.index.length) this.growIndex();
    const at = this.end++ * STRIDE;
    this.index[at] = this.tail;
    this.index[at + 1] = message.seq!;
    this.index[at + 2] = message.timestamp;
    this.tail += this.arena.write(text, this.tail);
  }

  /** Keep at most `limit` messages, none older than `ttlMs`. */
  trim(limit: number, ttlMs: number, now: number): void {
    const end = this.end;
    let head = Math.max(this.head, end - limit);
    while (head < end && this.time(head) < now - ttlMs) head++;
    if (head === this.head) return;
    this.head = head;
    if (head === end) this.clear();
    else if (head >= 32 && head * 2 >= end) this.compactEntries();
  }

  /** The retained messages with a serial above `seq` (all of them when `seq` is undefined), within `maxBytes` when given (at least one). */
  pageAfter(seq: number | undefined, maxBytes?: number): { messages: StoredMessage[]; more: boolean } {
    const from = seq === undefined ? this.head : this.firstIndex((s) => s > seq);
    let to = this.end;
    if (maxBytes !== undefined) {
      let bytes = 0;
      for (let i = from; i < this.end; i++) {
        bytes += this.entryBytes(i);
        if (bytes > maxBytes && i > from) {
          to = i;
          break;
        }
      }
    }
    return { messages: this.read(from, to), more: to < this.end };
  }

  /** A page as `Engine.history` returns it. */
  page(query: HistoryQuery): HistoryPage {
    const before = query.before;
    const end = before === undefined ? this.end : this.firstIndex((s) => s >= before);
    const count = end - this.head;
    let take = Math.min(query.limit, count);
    const forwards = query.direction === 'forwards';
    // Within the byte budget, counted from the stored sizes before anything is parsed (at least one).
    if (query.maxBytes !== undefined) {
      let bytes = 0;
      for (let n = 0; n < take; n++) {
        const i = forwards ? this.head + n : end - 1 - n;
        bytes += this.entryBytes(i);
        if (bytes > query.maxBytes && n > 0) {
          take = n;
          break;
        }
      }
    }
    const from = forwards ? this.head : end - take;
    return { messages: this.read(from, from + take), more: count > take };
  }

  private entryBytes(i: number): number {
    return (i + 1 < this.end ? this.start(i + 1) : this.tail) - this.start(i);
  }

  /** The index of the first entry whose serial passes `test`, which holds from some serial on (serials only grow). */
  private firstIndex(test: (seq: number) => boolean): number {
    let lo = this.head;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (test(this.seq(mid))) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private read(from: number, to: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let i = from; i < to; i++) {
      const end = i + 1 < this.end ? this.start(i + 1) : this.tail;
      out.push(JSON.parse(this.arena.toString('utf8', this.start(i), end)) as StoredMessage);
    }
    return out;
  }

  /** Nothing is retained: let the arena and the arrays go (an idle channel holds no buffers). */
  private clear(): void {
    this.arena = EMPTY;
    this.tail = 0;
    this.index = NO_ENTRIES;
    this.head = 0;
    this.end = 0;
  }

  /**
   * Move the live bytes to the front of an arena with room for `need` more. Half of it stays free
   * after a move, so moves are rare: amortised O(1) per byte appended.
   */
  private compact(need: number): void {
    const from = this.head < this.end ? this.start(this.head) : this.tail;
    const live = this.tail - from;
    const wanted = Math.max(MIN_ARENA, 2 * (live + need));
    if (this.arena.length >= wanted && this.arena.length <= 4 * wanted) {
      this.arena.copyWithin(0, from, this.tail);
    } else {
      // Pooled for small sizes: many quiet channels share a slab instead of an allocation each.
      const arena = Buffer.allocUnsafe(wanted);
      this.arena.copy(arena, 0, from, this.tail);
      this.arena = arena;
    }
    this.tail = live;
    for (let i = this.head; i < this.end; i++) this.index[i * STRIDE] -= from;
    this.compactEntries();
  }

  /** Drop the entries before `head` from the arrays, in place. */
  private compactEntries(): void {
    const { head, end } = this;
    if (head === 0) return;
    this.index.copyWithin(0, head * STRIDE, end * STRIDE);
    this.head = 0;
    this.end = end - head;
  }

  /** Room for more entries: first drop the dead ones, then double when still more than half full. */
  private growIndex(): void {
    this.compactEntries();
    if (this.index.length > 0 && 2 * this.end * STRIDE <= this.index.length) return;
    const index = new Float64Array(Math.max(MIN_ENTRIES, 2 * (this.end + 1)) * STRIDE);
    index.set(this.index.subarray(0, this.end * STRIDE));
    this.index = index;
  }
}

