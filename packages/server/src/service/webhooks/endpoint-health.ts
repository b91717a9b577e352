/** The wait before retry number `failures + 1`: doubling from `baseMs` up to `maxMs`, ±20 % jitter, whole ms. */
export function retryDelay(failures: number, baseMs: number, maxMs: number): number {
  return Math.round(Math.min(maxMs, baseMs * 2 ** failures) * (0.8 + Math.random() * 0.4));
}

/**
 * How many attempts one endpoint may have under way. A healthy endpoint gets up to `maxInFlight`.
 * Once an attempt fails, it gets none until that event's retry is due, then one at a time (a probe:
 * the oldest due event), each failed probe waiting for its own event's retry, until an attempt
 * succeeds. So an endpoint that is down costs one attempt per retry delay, not one per queued event,
 * however many wait for it.
 */
export class EndpointHealth {
  private inFlight = 0;
  private failing = false;
  private pausedUntil = 0;

  constructor(private readonly options: { maxInFlight: number }) {}

  get healthy(): boolean {
    return !this.failing;
  }

  /** Attempts that may start now. */
  capacity(now: number): number {
    if (!this.failing) return Math.max(0, this.options.maxInFlight - this.inFlight);
    if (now < this.pausedUntil) return 0;
    return this.inFlight === 0 ? 1 : 0;
  }

  /** Records an attempt that starts; pass what it returns to `finished`. */
  started(): { probe: boolean } {
    this.inFlight++;
    return { probe: this.failing };
  }

  /** `retryAt`: when the failed attempt's event is tried again (Unix ms). */
  finished(attempt: { probe: boolean }, outcome: { delivered: true } | { delivered: false; retryAt: number }): void {
    this.inFlight--;
    if (outcome.delivered) {
      this.failing = false;
      this.pausedUntil = 0;
      return;
    }
    // Attempts that started before the endpoint failed tell nothing new: only the first failure
    // and failed probes set the pause.
    if (this.failing && !attempt.probe) return;
    this.failing = true;
    this.pausedUntil = outcome.retryAt;
  }
}
