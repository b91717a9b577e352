/**
 * What every publisher of a chaos run does, whatever it publishes through (the Hubbub SDK, Foony's
 * SDK, REST): one message id at a time, tried up to `ATTEMPTS` times under that same id (the
 * exactly-once promise: a retry is safe), each attempt recorded as `invoke`, then `ok` (with the
 * serial) or `err` (with a code; 0 for an answer never heard, -1 for a connection lost), with a pause
 * that grows per attempt. Stopping lets the publish in flight settle.
 */
import type { ClientContext } from './clients.js';
import type { Random } from './random.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many times a publisher tries one message id before it gives up on it. */
const ATTEMPTS = 4;

/** What one attempt came to. */
export type Attempt = { ok: true; serial?: number; duplicate?: boolean } | { ok: false; code: number };

export abstract class PublishLoop {
  protected stopped = false;
  private loop?: Promise<void>;
  private count = 0;

  constructor(
    readonly name: string,
    private readonly channels: string[],
    private readonly rng: Random,
    protected readonly ctx: ClientContext,
  ) {}

  /** The `attempt`th try to publish `msgId` on `channel`; never throws. */
  protected abstract attempt(channel: string, msgId: string, attempt: number): Promise<Attempt>;

  /** Let go of the client; a failed run calls it without waiting for `stop()`. */
  abstract close(): void;

  /** What must be ready before the first publish. */
  protected async prepare(): Promise<void> {}

  start(): void {
    this.loop = (async () => {
      await this.prepare();
      while (!this.stopped) {
        await this.publishOne(this.rng.pick(this.channels), `${this.name}-${this.count++}`);
        await sleep(this.rng.int(20, 150));
      }
    })();
  }

  /** Stop publishing; resolves once the publish in flight has settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async publishOne(channel: string, msgId: string): Promise<void> {
    const { history } = this.ctx;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      history.record({ kind: 'invoke', process: this.name, channel, msgId, attempt });
      const outcome = await this.attempt(channel, msgId, attempt);
      if (outcome.ok) {
        history.record({ kind: 'ok', process: this.name, channel, msgId, attempt, ...(outcome.serial ? { serial: outcome.serial } : {}), ...(outcome.duplicate ? { duplicate: true } : {}) });
        return;
      }
      history.record({ kind: 'err', process: this.name, channel, msgId, attempt, code: outcome.code });
      if (this.stopped && attempt > 1) return;
      await sleep(200 * attempt);
    }
  }
}
