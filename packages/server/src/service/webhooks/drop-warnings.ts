/** At most one warning per app this often; drops in between are counted into the next one. */
export const DROP_WARNING_INTERVAL_MS = 10_000;

interface Pending {
  dropped: number;
  /** Says why the latest drop happened, when a warning is written. */
  reason: () => string;
  lastWarnedAt: number;
}

/**
 * Warnings about dropped webhook events, rate-limited per app: a full outbox can drop thousands of
 * events a second, and a log line each would cost more than the events.
 */
export class DropWarnings {
  private readonly apps = new Map<string, Pending>();

  constructor(private readonly warn: (fields: Record<string, unknown>, message: string) => void) {}

  note(app: string, reason: () => string, now = Date.now()): void {
    let pending = this.apps.get(app);
    if (!pending) {
      pending = { dropped: 0, reason, lastWarnedAt: -Infinity };
      this.apps.set(app, pending);
    }
    pending.dropped++;
    pending.reason = reason;
    if (now - pending.lastWarnedAt >= DROP_WARNING_INTERVAL_MS) this.report(app, pending, now);
  }

  /** Warn about drops counted since an app's last warning, once its interval has passed. */
  tick(now = Date.now()): void {
    for (const [app, pending] of this.apps) {
      if (now - pending.lastWarnedAt < DROP_WARNING_INTERVAL_MS) continue;
      if (pending.dropped > 0) this.report(app, pending, now);
      else this.apps.delete(app);
    }
  }

  private report(app: string, pending: Pending, now: number): void {
    this.warn({ app, dropped: pending.dropped }, `webhook events dropped: ${pending.reason()}`);
    pending.dropped = 0;
    pending.lastWarnedAt = now;
  }
}
