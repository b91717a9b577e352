import type { PublishResult } from '../core/engine.js';
import { HubbubError, ErrorCode } from '@hubbub/protocol';
import { unavailable } from './redis-clients.js';
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
}

/**
 * The publishes of one event-loop turn go to Redis together: collected until the turn's I/O has been
 * read (setImmediate), then sent as one script call (one per channel on a cluster), so Redis runs one
 * script and writes one reply for all of them, and this node builds one command and parses one reply
 * of integers. Each publish is still one step of its own inside the call, in the order `publish` was
 * called: a channel's serials follow that order, and a resend in the same turn is seen as one.
 */
export class RedisPublishBatcher {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly options: PublishBatcherOptions) {}

  publish(p: BatchedPublish): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve, reject) => {
      this.queue.push({ p, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (this.options.acrossChannels) {
      for (let i = 0; i < queue.length; i += MAX_PUBLISH_BATCH) this.send(queue.slice(i, i + MAX_PUBLISH_BATCH));
      return;
    }
    const byChannel = new Map<string, Pending[]>();
    for (const pending of queue) {
      const list = byChannel.get(pending.p.channelKey);
      if (list) list.push(pending);
      else byChannel.set(pending.p.channelKey, [pending]);
    }
    for (const list of byChannel.values()) {
      for (let i = 0; i < list.length; i += MAX_PUBLISH_BATCH) this.send(list.slice(i, i + MAX_PUBLISH_BATCH));
    }
  };

  private send(batch: Pending[]): void {
    const keys: string[] = [];
    const args: Array<string | number> = [this.options.epochCandidate(), this.options.dedupWindowMs];
    for (const { p } of batch) {
      keys.push(...p.keys);
      args.push(p.body, p.historyLimit, p.retentionMs, p.ephemeral ? 1 : 0);
    }
    const run = (): Promise<number[]> => {
      // A synchronous throw (a client in a state it refuses commands in) fails the batch like a refusal.
      try {
        return this.options.run(batch.length * PUBLISH_KEYS, ...keys, ...args);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    };
    run().then(
      (results) => {
        for (let i = 0; i < batch.length; i++) settle(batch[i], results[i]);
      },
      (err: Error) => {
        const failure = unavailable(err);
        for (const pending of batch) pending.reject(failure);
      },
    );
  }
}

function settle(pending: Pending, result: number | undefined): void {
  if (typeof result !== 'number' || result < 0) {
    pending.reject(new HubbubError(ErrorCode.Bootstrap, 'engine unavailable: the channel history refused the message (its stream is ahead of its serial)', 503));
    return;
  }
  const seq = Math.floor(result / 2);
  pending.resolve({ seq: seq > 0 ? seq : undefined, duplicate: result % 2 === 1 });
}
