import type { Wire } from './wire.js';
import { attempt } from './attempt.js';
import { pause } from './cooperative.js';

/** The two bounds of a connection's backlog (`SessionLimits.inputBacklogFrames`/`Bytes`). */
export interface BacklogBounds {
  inputBacklogFrames: number;
  inputBacklogBytes: number;
}

/**
 * One connection's requests, handled one at a time in arrival order (so replies keep the order of
 * requests and publishes the order of the channel), with backpressure the TCP way: once more than
 * a bounded number of frames or bytes read from the connection wait here, its wire stops reading
 * (`pause`), and reads again (`resume`) once the backlog is down to a quarter of both bounds. The gap
 * between the marks keeps a busy connection from pausing and resuming at every frame, and the low
 * mark leaves work queued while the socket refills. A client that writes faster than it is served
 * is then slowed by its own socket, and what it costs the server stays bounded.
 */
export class RequestQueue {
  /** Settles once every request so far has been handled and answered. */
  private tail: Promise<void> = Promise.resolve();
  /** Settles once every request so far has begun: what a pipelined request waits for before it begins. */
  private begun: Promise<void> = Promise.resolve();
  private frames = 0;
  private bytes = 0;
  private stopped = false;

  constructor(
    private readonly wire: Pick<Wire, 'pause' | 'resume'>,
    private readonly bounds: BacklogBounds,
  ) {}

  /** The wire was told to stop reading and has not been told to go on. */
  get paused(): boolean {
    return this.stopped;
  }

  /** Frames read and not yet handled. */
  get backlog(): number {
    return this.frames;
  }

  /**
   * A request read from the connection, `bytes` its share of the message that carried it: run after
   * everything queued before it, counted against the bounds until it has run. A failure goes to `failed`.
   */
  push(task: () => Promise<void> | void, bytes: number, failed: (err: unknown) => void): void {
    this.count(bytes);
    this.tail = this.tail.then(() => this.run(task, bytes, failed));
    this.begun = this.tail;
  }

  /**
   * A request that may begin as soon as the one before it has begun (a publish: the engine is given
   * it at once, in arrival order, and takes a connection's publishes in that order), instead of once
   * the one before it has been answered: a connection's publishes to a remote engine then share its
   * round trips instead of taking one each. `begin` does the request's work up to what it waits for
   * and resolves with its reply, which is run in arrival order, after every earlier request's; a
   * request that is not pipelined still waits for every earlier one to be answered.
   */
  pushPipelined(begin: () => Promise<() => void>, bytes: number, failed: (err: unknown) => void): void {
    this.count(bytes);
    let outcome!: Promise<{ reply?: () => void; err?: unknown }>;
    const begun = this.begun
      // A long run of pipelined requests gives the event loop back like any other work does.
      .then(() => pause())
      .then(() => {
        // Settled into a value at once: a failure that comes before the earlier replies is no unhandled rejection.
        outcome = attempt(begin).then((reply) => ({ reply }), (err: unknown) => ({ err }));
      });
    this.begun = begun;
    this.tail = Promise.all([this.tail, begun])
      .then(() => outcome)
      .then(({ reply, err }) => {
        if (reply) reply();
        else failed(err);
      })
      .catch(failed)
      .finally(() => this.settle(bytes));
  }

  /** Work of the server's own (an answer to a refusal, a close) in turn behind what is queued; not counted. */
  then(task: () => void): void {
    this.tail = this.tail.then(task);
    this.begun = this.tail;
  }

  private count(bytes: number): void {
    this.frames++;
    this.bytes += bytes;
    if (!this.stopped && (this.frames > this.bounds.inputBacklogFrames || this.bytes > this.bounds.inputBacklogBytes)) {
      this.stopped = true;
      this.wire.pause?.();
    }
  }

  private async run(task: () => Promise<void> | void, bytes: number, failed: (err: unknown) => void): Promise<void> {
    try {
      await task();
    } catch (err) {
      failed(err);
    } finally {
      this.settle(bytes);
    }
  }

  private settle(bytes: number): void {
    this.frames--;
    this.bytes -= bytes;
    if (this.stopped && this.frames <= this.bounds.inputBacklogFrames / 4 && this.bytes <= this.bounds.inputBacklogBytes / 4) {
      this.stopped = false;
      this.wire.resume?.();
    }
  }
}
