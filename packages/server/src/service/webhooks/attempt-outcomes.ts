import type { Store } from '../store/store.js';
import type { OutboxBacklog } from './backlog.js';
import type { Target } from './targets.js';

/** An item done with: delivered, or (with no target) discarded because its endpoint is gone. */
export interface Settled {
  id: number;
  app: string;
  bytes: number;
  target?: Target;
}

export interface Failed extends Settled {
  nextAttemptAt: number;
  lastError: string;
}

/**
 * Outcomes of attempts not yet written to the outbox, gathered so that one transaction writes them
 * all. Once written, their items are no longer busy, and delivered ones leave the app's backlog; a
 * write that fails keeps them for the next.
 */
export class AttemptOutcomes {
  private delivered: Settled[] = [];
  private failed: Failed[] = [];

  constructor(
    private readonly store: Store,
    private readonly backlog: OutboxBacklog,
  ) {}

  noteDelivered(settled: Settled): void {
    this.delivered.push(settled);
  }

  noteFailed(failed: Failed): void {
    this.failed.push(failed);
  }

  /** Everything noted so far, in one transaction. */
  async write(): Promise<void> {
    if (this.delivered.length === 0 && this.failed.length === 0) return;
    const delivered = this.delivered;
    const failed = this.failed;
    this.delivered = [];
    this.failed = [];
    try {
      await this.store.settleWebhooks({
        delivered: delivered.map((d) => d.id),
        failed: failed.map(({ id, nextAttemptAt, lastError }) => ({ id, nextAttemptAt, lastError })),
      });
    } catch (err) {
      this.delivered = delivered.concat(this.delivered);
      this.failed = failed.concat(this.failed);
      throw err;
    }
    for (const d of delivered) {
      this.backlog.remove(d.app, 1, d.bytes);
      d.target?.busy.delete(d.id);
    }
    for (const f of failed) f.target?.busy.delete(f.id);
  }
}
