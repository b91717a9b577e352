import { attempt } from '../core/attempt.js';
import type { PublishResult } from '../core/engine.js';
import { HubbubError, ErrorCode } from '@hubbub/protocol';
import { timedOut, unavailable } from './redis-clients.js';
import { PUBLISH_KEYS } from './redis-scripts.js';

/** Publishes one script call holds at most: bounds how long Redis runs one call (about 10 µs each). */
export const MAX_PUBLISH_BATCH = 128;

/** One publish as the batch script takes it (see publishBatchScript). */
export interface BatchedPublish {
  /** The channel's hash tag: on a cluster, a call holds one channel's publishes. */
  channelKey: string;
  /** seq, epoch, history, dedup record, pub/sub channel. */
  keys: readonly [string, string, string, string, string];
  body: string;
  historyLimit: number;
  retentionMs: number;
  ephemeral: boolean;
}

interface Pending {
  p: BatchedPublish;
  resolve(result: PublishResult): void;
  reject(err: Error): void;
  /** Fails the publish once it has waited `deadlineMs`, wherever it waits (its lane, or Redis). */
  deadline: NodeJS.Timeout;
  /** Failed by its deadline before it was sent: it is not sent. */
  expired?: boolean;
}

/** Runs the batch script: `numkeys`, keys, then arguments; one integer per publish back. */
export type RunPublishBatch = (numKeys: number, ...keysThenArgs: Array<string | number>) => Promise<number[]>;

export interface PublishBatcherOptions {
  run: RunPublishBatch;
  /** False on a cluster: one call's keys must share a slot, so a call holds one channel's publishes. */
  acrossChannels: boolean;
  dedupWindowMs: number;
  /** A new stream's epoch, should a publish of the call start one. */
  epochCandidate(): string;
  /**
   * How long a publish may wait for its answer, queued behind a call at Redis and then at Redis
   * itself (--redis-command-timeout): a stalled Redis fails publishes after this, not after the calls
   * ahead of them have each timed out in turn.
   */
  deadlineMs: number;
}

/** Where publishes wait their turn: all of them on one Redis, each channel's own on a cluster. */
interface Lane {
  id: string;
  queue: Pending[];
  /** Script calls of this lane sent and not yet answered. */
  atRedis: number;
}

/**
 * The publishes of one event-loop turn go to Redis together: collected until the turn's I/O has been
 * read (setImmediate), then sent as one script call (one per channel on a cluster), so Redis runs one
 * script and writes one reply for all of them, and this node builds one command and parses one reply
 * of integers. Each publish is still one step of its own inside the call, in the order `publish` was
 * called: a channel's serials follow that order, and a resend in the same turn is seen as one.
 *
 * While a lane's call is at Redis, what is published meanwhile waits and goes in the next call, sent
 * when the answer comes: an idle node sends at once, a busy one sends fewer, larger calls, so that
 * Redis runs one script per round trip instead of one per turn, and the messages come back on the
 * subscriber link in larger groups, fanned out in fewer, larger turns.
 */
export class RedisPublishBatcher {
  private readonly lanes = new Map<string, Lane>();
  /** Lanes with publishes to send at the next flush. */
  private due = new Set<Lane>();
  private scheduled = false;

  constructor(private readonly options: PublishBatcherOptions) {}

  publish(p: BatchedPublish): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve, reject) => {
      const lane = this.laneOf(p.channelKey);
      const pending: Pending = {
        p,
        resolve,
        reject,
        deadline: setTimeout(() => {
          pending.expired = true;
          reject(timedOut());
        }, this.options.deadlineMs),
      };
      lane.queue.push(pending);
      if (lane.atRedis === 0) this.schedule(lane);
    });
  }

  private laneOf(channelKey: string): Lane {
    const id = this.options.acrossChannels ? '' : channelKey;
    let lane = this.lanes.get(id);
    if (lane === undefined) {
      lane = { id, queue: [], atRedis: 0 };
      this.lanes.set(id, lane);
    }
    return lane;
  }

  private schedule(lane: Lane): void {
    this.due.add(lane);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const due = this.due;
    this.due = new Set();
    for (const lane of due) {
      // What failed by its deadline while it waited was answered as not published: it is not sent.
      const queue = lane.queue.filter((pending) => !pending.expired);
      lane.queue = [];
      if (queue.length === 0 && lane.atRedis === 0 && lane.id !== '') this.lanes.delete(lane.id);
      for (let i = 0; i < queue.length; i += MAX_PUBLISH_BATCH) this.send(lane, queue.slice(i, i + MAX_PUBLISH_BATCH));
    }
  };

  private send(lane: Lane, batch: Pending[]): void {
    const keys: string[] = [];
    const args: Array<string | number> = [this.options.epochCandidate(), this.options.dedupWindowMs];
    for (const { p } of batch) {
      keys.push(...p.keys);
      args.push(p.body, p.historyLimit, p.retentionMs, p.ephemeral ? 1 : 0);
    }
    lane.atRedis++;
    // A synchronous throw (a client in a state it refuses commands in) fails the batch like a refusal.
    attempt(() => this.options.run(batch.length * PUBLISH_KEYS, ...keys, ...args)).then(
      (results) => {
        this.answered(lane);
        for (let i = 0; i < batch.length; i++) settle(batch[i], results[i]);
      },
      (err: Error) => {
        this.answered(lane);
        const failure = unavailable(err);
        for (const pending of batch) {
          clearTimeout(pending.deadline);
          pending.reject(failure);
        }
      },
    );
  }

  private answered(lane: Lane): void {
    if (--lane.atRedis > 0) return;
    if (lane.queue.length > 0) this.schedule(lane);
    // A cluster has a lane per channel: one that has nothing left is not kept.
    else if (lane.id !== '') this.lanes.delete(lane.id);
  }
}

function settle(pending: Pending, result: number | undefined): void {
  clearTimeout(pending.deadline);
  if (typeof result !== 'number' || result < 0) {
    const why = result === -1 ? 'the channel history refused the message (its stream is ahead of its serial)' : "Redis refused a command of the publish (one of the channel's keys holds a value of the wrong type)";
    pending.reject(new HubbubError(ErrorCode.Bootstrap, `engine unavailable: ${why}`, 503));
    return;
  }
  const seq = Math.floor(result / 2);
  pending.resolve({ seq: seq > 0 ? seq : undefined, duplicate: result % 2 === 1 });
}
