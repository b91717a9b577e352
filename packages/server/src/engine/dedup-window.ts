/**
 * Message ids seen in the last `windowMs`, with the serial each got (0: none, it was ephemeral).
 * Expiry times only grow, so ids expire from the front of a queue as time passes: no timer, no
 * object and no sweep over all ids per entry, which at thousands of publishes a second is what
 * kept the garbage collector busy.
 */
export class DedupWindow {
  private readonly serials = new Map<string, number>();
  private keys: string[] = [];
  private expiries: number[] = [];
  private head = 0;

  constructor(private readonly windowMs: number) {}

  /** The serial of `key` if it was seen within the window (0 when it had none). */
  seen(key: string, now: number): number | undefined {
    this.expire(now);
    return this.serials.get(key);
  }

  remember(key: string, seq: number | undefined, now: number): void {
    this.serials.set(key, seq ?? 0);
    this.keys.push(key);
    this.expiries.push(now + this.windowMs);
  }

  get size(): number {
    return this.serials.size;
  }

  expire(now: number): void {
    const { keys, expiries } = this;
    let head = this.head;
    while (head < keys.length && expiries[head] <= now) this.serials.delete(keys[head++]);
    // Drop the consumed front now and then, so the queue does not grow without bound.
    if (head > 4096 && head * 2 > keys.length) {
      this.keys = keys.slice(head);
      this.expiries = expiries.slice(head);
      head = 0;
    }
    this.head = head;
  }
}
