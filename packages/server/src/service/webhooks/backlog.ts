import type { WebhookBacklog } from '../store/store.js';

interface Tally {
  count: number;
  bytes: number;
}

/**
 * What each app has waiting for its webhook endpoints, in the store and not yet written to it, kept
 * in memory so the bound is checked per event without asking the store. It is set from the store
 * at start (and, for a store other nodes share, every few seconds), then follows this node's own
 * writes and deliveries.
 */
export class OutboxBacklog {
  private readonly apps = new Map<string, Tally>();

  constructor(private readonly limits: { maxQueue: number; maxQueueBytes: number }) {}

  /** Whether `count` more items of `bytes` in all fit within the app's bound. */
  admits(app: string, count: number, bytes: number): boolean {
    const tally = this.apps.get(app);
    if (!tally) return count <= this.limits.maxQueue && bytes <= this.limits.maxQueueBytes;
    return tally.count + count <= this.limits.maxQueue && tally.bytes + bytes <= this.limits.maxQueueBytes;
  }

  /** Whether the app is within its bound now. */
  within(app: string): boolean {
    return this.admits(app, 0, 0);
  }

  add(app: string, count: number, bytes: number): void {
    const tally = this.apps.get(app);
    if (tally) {
      tally.count += count;
      tally.bytes += bytes;
    } else {
      this.apps.set(app, { count, bytes });
    }
  }

  remove(app: string, count: number, bytes: number): void {
    const tally = this.apps.get(app);
    if (!tally) return;
    tally.count = Math.max(0, tally.count - count);
    tally.bytes = Math.max(0, tally.bytes - bytes);
    if (tally.count === 0) this.apps.delete(app);
  }

  /** Start again from what the store holds, plus what is still to be written to it. */
  reset(stored: readonly WebhookBacklog[], unwritten: Iterable<{ app: string; bytes: number }>): void {
    this.apps.clear();
    for (const { app, count, bytes } of stored) this.add(app, count, bytes);
    for (const { app, bytes } of unwritten) this.add(app, 1, bytes);
  }

  count(app: string): number {
    return this.apps.get(app)?.count ?? 0;
  }

  bytes(app: string): number {
    return this.apps.get(app)?.bytes ?? 0;
  }
}
