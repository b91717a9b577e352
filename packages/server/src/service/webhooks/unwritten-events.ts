import type { Store, WebhookItem } from '../store/store.js';

/** One outbox write takes at most this much: a long backlog (after an outage) is written in slices. */
const WRITE_SLICE_ITEMS = 500;
const WRITE_SLICE_BYTES = 4 * 1024 * 1024;
/** Memory for events held while the store is unreachable, beside `maxHeld`. */
const MAX_HELD_BYTES = 64 * 1024 * 1024;

/** An outbox item for one endpoint, not written yet. */
export interface Unwritten {
  item: WebhookItem;
  app: string;
  bytes: number;
}

/**
 * Events queued and not yet in the outbox, oldest first: those of one event-loop turn are written
 * together, and while the store cannot take them they are held here, bounded in count and bytes.
 */
export class UnwrittenEvents {
  private items: Unwritten[] = [];
  private bytes = 0;

  constructor(
    private readonly store: Store,
    private readonly maxHeld: number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** Whether `count` more items of `bytes` in all can be held. */
  canHold(count: number, bytes: number): boolean {
    return !(this.items.length + count > this.maxHeld || this.bytes + bytes > MAX_HELD_BYTES);
  }

  [Symbol.iterator](): Iterator<Unwritten> {
    return this.items[Symbol.iterator]();
  }

  push(unwritten: Unwritten): void {
    this.items.push(unwritten);
    this.bytes += unwritten.bytes;
  }

  /**
   * Takes out, newest first, the items `keep` refuses, handing each to `removed` before the next is
   * looked at (so `keep` sees what each removal freed).
   */
  trim(keep: (u: Unwritten) => boolean, removed: (u: Unwritten) => void): void {
    let kept: Unwritten[] | undefined;
    for (let i = this.items.length - 1; i >= 0; i--) {
      const u = this.items[i]!;
      if (keep(u)) {
        kept?.push(u);
        continue;
      }
      kept ??= this.items.slice(i + 1).reverse();
      this.bytes -= u.bytes;
      removed(u);
    }
    if (kept) this.items = kept.reverse();
  }

  /** Into the outbox, in order, a slice per transaction; stops (throws) at the first slice refused. */
  async write(): Promise<void> {
    while (this.items.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < this.items.length && count < WRITE_SLICE_ITEMS && (count === 0 || bytes + this.items[count]!.bytes <= WRITE_SLICE_BYTES)) {
        bytes += this.items[count]!.bytes;
        count++;
      }
      await this.store.enqueueWebhooks(this.items.slice(0, count).map((u) => u.item));
      // Events queued during the write were appended: only the slice written leaves.
      this.items = this.items.slice(count);
      this.bytes -= bytes;
      // Let sockets be read between slices: a long backlog is written a piece at a time.
      if (this.items.length > 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
