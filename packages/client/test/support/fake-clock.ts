import type { Clock } from '../../src/clock.js';

interface Timer {
  id: number;
  at: number;
  /** Order of scheduling: timers due at the same instant run in the order they were set. */
  order: number;
  fn: () => void;
  delay: number;
}

/** Let every pending promise callback run (one macrotask turn drains the microtask queue). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Virtual time for the SDK's `clock` option: nothing runs until the test calls `advance`, which runs the
 * due timers in time order and lets the promises they start settle between two timers.
 */
export class FakeClock implements Clock {
  private time: number;
  private nextId = 1;
  private timers = new Map<number, Timer>();
  /** Every delay the SDK asked for, in order: lets a test read a backoff without guessing which timer it is. */
  readonly scheduled: number[] = [];
  /** What `random()` returns; a function for a sequence. */
  randomValue: number | (() => number) = 0.5;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  random(): number {
    return typeof this.randomValue === 'function' ? this.randomValue() : this.randomValue;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const delay = Number.isFinite(ms) ? Math.max(0, ms) : 0;
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.time + delay, order: id, fn, delay });
    this.scheduled.push(delay);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Delays of the timers still pending, soonest first. */
  pendingDelays(): number[] {
    return this.sorted().map((t) => t.at - this.time);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Milliseconds until the next timer, or undefined when none is pending. */
  nextDue(): number | undefined {
    const first = this.sorted()[0];
    return first === undefined ? undefined : first.at - this.time;
  }

  /** Move time forward by `ms`, running each timer that falls due, in order, with promises settled in between. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    await settle();
    for (;;) {
      const due = this.sorted().find((t) => t.at <= target);
      if (!due) break;
      this.timers.delete(due.id);
      this.time = due.at;
      due.fn();
      await settle();
    }
    this.time = target;
    await settle();
  }

  /** Run timers up to and including the next one. */
  async runNext(): Promise<void> {
    const due = this.nextDue();
    if (due !== undefined) await this.advance(due);
  }

  private sorted(): Timer[] {
    return [...this.timers.values()].sort((a, b) => a.at - b.at || a.order - b.order);
  }
}
