import type { Wire } from './wire.js';
import { pause } from './cooperative.js';

/** The bounds of a connection's requests (`SessionLimits`): its backlog, and its publishes at the engine. */
export interface BacklogBounds {
  inputBacklogFrames: number;
  inputBacklogBytes: number;
  publishesInFlight: number;
}

/** What a request resolves with: a pipelined one, its reply to run in turn; any other, nothing. */
type Outcome = (() => void) | void;

interface Request {
  /** May begin once every request before it has begun (a publish), instead of once each has been answered. */
  pipelined: boolean;
  start: () => Promise<Outcome> | Outcome;
  /** Its share of what was read from the connection; undefined for the server's own work, which is not counted. */
  bytes?: number;
  failed: (err: unknown) => void;
  settled: boolean;
  reply?: () => void;
  error?: { err: unknown };
}

/**
 * One connection's requests, handled in arrival order (so replies keep the order of requests and
 * publishes the order of the channel), with backpressure the TCP way: once more than a bounded number
 * of frames or bytes read from the connection wait here, its wire stops reading (`pause`), and reads
 * again (`resume`) once the backlog is down to a quarter of both bounds. The gap between the marks
 * keeps a busy connection from pausing and resuming at every frame, and the low mark leaves work
 * queued while the socket refills. A client that writes faster than it is served is then slowed by
 * its own socket, and what it costs the server stays bounded.
 *
 * The requests wait in one array, not in a chain of promises: a request costs the promise its work
 * makes and one reaction, and a long run of them gives the event loop back (`pause`) between any two.
 */
export class RequestQueue {
  /** Requests not yet answered, in arrival order; the first `begun` of them have begun. */
  private readonly waiting: Request[] = [];
  private begun = 0;
  private pumpDue = false;
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
   * every request before it has been answered, counted against the bounds until it has run. A failure
   * goes to `failed`.
   */
  push(task: () => Promise<void> | void, bytes: number, failed: (err: unknown) => void): void {
    this.add({ pipelined: false, start: task, bytes, failed, settled: false });
  }

  /**
   * A request that may begin as soon as the one before it has begun (a publish: the engine is given
   * it at once, in arrival order, and takes a connection's publishes in that order), instead of once
   * the one before it has been answered: a connection's publishes to a remote engine then share its
   * round trips instead of taking one each. `begin` does the request's work up to what it waits for
   * and resolves with its reply, which is run in arrival order, after every earlier request's; a
   * request that is not pipelined still waits for every earlier one to be answered. At most
   * `publishesInFlight` begin before the first of them has been answered.
   */
  pushPipelined(begin: () => Promise<() => void>, bytes: number, failed: (err: unknown) => void): void {
    this.add({ pipelined: true, start: begin, bytes, failed, settled: false });
  }

  /** Work of the server's own (an answer to a refusal, a close) in turn behind what is queued; not counted. */
  then(task: () => void): void {
    this.waiting.push({ pipelined: false, start: task, failed: reportLater, settled: false });
    this.schedule();
  }

  private add(request: Request): void {
    this.waiting.push(request);
    this.frames++;
    this.bytes += request.bytes!;
    if (!this.stopped && (this.frames > this.bounds.inputBacklogFrames || this.bytes > this.bounds.inputBacklogBytes)) {
      this.stopped = true;
      this.wire.pause?.();
    }
    this.schedule();
  }

  /** Requests begin on a microtask, never inside the call that queued them. */
  private schedule(): void {
    if (this.pumpDue) return;
    this.pumpDue = true;
    queueMicrotask(this.pump);
  }

  private readonly pump = (): void => {
    this.pumpDue = false;
    while (this.begun < this.waiting.length) {
      // Past the first, a request begins only if it and every one before it still unanswered are pipelined.
      if (this.begun > 0 && !(this.waiting[this.begun]!.pipelined && this.waiting[0]!.pipelined)) return;
      if (this.begun >= this.bounds.publishesInFlight) return;
      const wait = pause();
      if (wait) {
        this.pumpDue = true;
        void wait.then(this.pump);
        return;
      }
      this.start(this.waiting[this.begun++]!);
    }
  };

  private start(request: Request): void {
    let result: Promise<Outcome> | Outcome;
    try {
      result = request.start();
    } catch (err) {
      return this.settle(request, undefined, { err });
    }
    if (result instanceof Promise) {
      result.then(
        (reply) => this.settle(request, reply),
        (err: unknown) => this.settle(request, undefined, { err }),
      );
    } else {
      this.settle(request, result);
    }
  }

  private settle(request: Request, reply: Outcome, error?: { err: unknown }): void {
    request.settled = true;
    // What a request that is not pipelined resolves with is no reply (it sends its own).
    if (request.pipelined && reply) request.reply = reply;
    if (error) request.error = error;
    if (request === this.waiting[0]) this.answer();
  }

  /** Answers the settled requests at the head, in order, and lets the next ones begin. */
  private answer(): void {
    while (this.waiting.length > 0 && this.waiting[0]!.settled) {
      const request = this.waiting.shift()!;
      this.begun--;
      if (request.bytes !== undefined) {
        this.frames--;
        this.bytes -= request.bytes;
      }
      try {
        if (request.error) request.failed(request.error.err);
        else request.reply?.();
      } catch (err) {
        // A reply that throws is answered as a failure; a failure handler that throws is not called twice.
        if (request.error) reportLater(err);
        else attemptFailed(request, err);
      }
    }
    if (this.stopped && this.frames <= this.bounds.inputBacklogFrames / 4 && this.bytes <= this.bounds.inputBacklogBytes / 4) {
      this.stopped = false;
      this.wire.resume?.();
    }
    if (this.begun < this.waiting.length) this.schedule();
  }
}

function attemptFailed(request: Request, err: unknown): void {
  try {
    request.failed(err);
  } catch (again) {
    reportLater(again);
  }
}

/** A failure of the server's own work: surfaced as an unhandled rejection, as any other would be. */
function reportLater(err: unknown): void {
  void Promise.reject(err);
}
