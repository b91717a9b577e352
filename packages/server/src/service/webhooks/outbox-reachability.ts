/**
 * Whether the outbox (the store) answers. After a failure it is not tried again for `retryAfterMs`,
 * and going down and coming back are each warned about once, not once per round.
 */
export class OutboxReachability {
  private failingNow = false;
  private retryAt = 0;

  constructor(
    private readonly retryAfterMs: number,
    private readonly warn: (fields: Record<string, unknown>, message: string) => void,
  ) {}

  get failing(): boolean {
    return this.failingNow;
  }

  /** Unix ms before which the store is not tried again. */
  get notBefore(): number {
    return this.retryAt;
  }

  /** The store refused a round; `held`: the events now waiting in memory. */
  failed(err: unknown, held: number): void {
    this.retryAt = Date.now() + this.retryAfterMs;
    if (this.failingNow) return;
    this.failingNow = true;
    this.warn({ err: (err as Error).message, held }, 'webhook outbox unavailable, holding events in memory');
  }

  /** The store took a round's writes. */
  answered(): void {
    if (!this.failingNow) return;
    this.failingNow = false;
    this.warn({}, 'webhook outbox reachable again');
  }
}
