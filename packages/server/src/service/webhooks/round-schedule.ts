export interface RoundHooks {
  /** One round: what gathered since the last one is handled together. */
  round: () => Promise<void>;
  /** What a round (or the first task) threw. */
  failed: (err: unknown) => void;
  /** After each kicked round, before the next is planned. */
  ended: () => void;
  /** Unix ms before which no round starts (the store is not tried again before then). */
  notBefore: () => number;
}

/**
 * When the dispatcher's rounds run. A kick asks for a round within some ms; kicks until it starts
 * are served by that one round, which never starts before the batch window has passed or before
 * the store may be tried again. Rounds never overlap: a kick during one asks for another after it.
 * A wake plans a kick for a time (a retry falling due).
 */
export class RoundSchedule {
  private runningNow = false;
  private current?: Promise<void>;
  /** Kicked while a round ran: another round, within this many ms. */
  private againWithin?: number;
  private planned?: { cancel(): void; at: number };
  /** A kick planned for when a retry falls due, and when. */
  private wakeTimer?: NodeJS.Timeout;
  private wakeAt = Infinity;

  constructor(
    private readonly batchWindowMs: number,
    private readonly hooks: RoundHooks,
  ) {}

  get running(): boolean {
    return this.runningNow;
  }

  /** Rounds may run from now on. `first` runs at once, as the first round would, and a round is kicked after it. */
  start(first: () => Promise<void>): void {
    this.runningNow = true;
    this.current = first()
      .catch((err) => this.hooks.failed(err))
      .finally(() => {
        this.current = undefined;
        this.kick();
      });
  }

  /** No more rounds; resolves once the one under way, if any, has ended. */
  async stop(): Promise<void> {
    this.runningNow = false;
    this.planned?.cancel();
    clearTimeout(this.wakeTimer);
    await this.current?.catch(() => {}); // a round's errors went to hooks.failed already: only its end is awaited here
  }

  /** A round within `withinMs` (or later, when the batch window or the store's retry asks for it). */
  kick(withinMs = 0): void {
    if (!this.runningNow) return;
    if (this.current) {
      this.againWithin = Math.min(this.againWithin ?? Infinity, withinMs);
      return;
    }
    const wait = Math.max(this.batchWindowMs, withinMs, this.hooks.notBefore() - Date.now());
    if (this.planned) {
      if (this.planned.at <= Date.now() + wait) return;
      this.planned.cancel();
    }
    const run = () => {
      this.planned = undefined;
      this.current = this.hooks
        .round()
        .catch((err) => this.hooks.failed(err))
        .finally(() => {
          this.current = undefined;
          this.hooks.ended();
          const again = this.againWithin;
          this.againWithin = undefined;
          if (again !== undefined) this.kick(again);
        });
    };
    const at = Date.now() + wait;
    if (wait <= 0) {
      const immediate = setImmediate(run);
      this.planned = { at, cancel: () => clearImmediate(immediate) };
    } else {
      const timer = setTimeout(run, wait);
      this.planned = { at, cancel: () => clearTimeout(timer) };
    }
  }

  /** Kick at `time` (Unix ms): a retry falls due then (the poll would find it too, but later). */
  wake(time: number): void {
    if (!this.runningNow || time >= this.wakeAt) return;
    clearTimeout(this.wakeTimer);
    this.wakeAt = time;
    this.wakeTimer = setTimeout(() => {
      this.wakeAt = Infinity;
      this.kick();
    }, Math.max(0, time - Date.now()));
    this.wakeTimer.unref();
  }
}
