/**
 * A publisher of a chaos run that publishes over REST (`POST /channels/:channel/messages`,
 * docs/server.md) as a backend would: each message under an id of its own (`id`, the dedup id), and
 * after an error or a timeout the same id again on the next node, until one acknowledges it. Each
 * attempt is recorded as the SDK publishers record theirs (invoke, then ok or err), so a publish that
 * never got an answer is indeterminate for the checker: in history at most once.
 */
import type { ClientContext } from './clients.js';
import type { Random } from './random.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many times one id is tried (each on the next node) before the publisher gives up on it. */
const ATTEMPTS = 4;
/** A request unanswered after this long is abandoned (code 0: never settled) and tried elsewhere. */
const REQUEST_TIMEOUT_MS = 5000;

export class RestPublisher {
  private stopped = false;
  private loop?: Promise<void>;
  private count = 0;

  constructor(
    readonly name: string,
    private readonly firstNode: number,
    private readonly channels: string[],
    private readonly rng: Random,
    private readonly ctx: ClientContext,
  ) {}

  start(): void {
    this.loop = (async () => {
      const auth = `Bearer ${await this.ctx.token(this.name)}`;
      while (!this.stopped) {
        await this.publishOne(this.rng.pick(this.channels), `${this.name}-${this.count++}`, auth);
        await sleep(this.rng.int(20, 150));
      }
    })();
  }

  /** Stop publishing; resolves once the publish in flight has settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Stop without waiting (a run that failed): the attempt in flight times out on its own. */
  close(): void {
    this.stopped = true;
  }

  private async publishOne(channel: string, msgId: string, auth: string): Promise<void> {
    const { history } = this.ctx;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const node = (this.firstNode + attempt - 1) % this.ctx.nodes;
      history.record({ kind: 'invoke', process: this.name, channel, msgId, attempt });
      try {
        const res = await fetch(`${this.ctx.httpUrl(node)}/channels/${encodeURIComponent(channel)}/messages`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'm', data: { op: msgId }, id: msgId }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const body = (await res.json()) as { serial?: number; duplicate?: boolean; error?: { code?: number } };
        if (res.ok) {
          history.record({ kind: 'ok', process: this.name, channel, msgId, attempt, ...(body.serial ? { serial: body.serial } : {}), ...(body.duplicate ? { duplicate: true } : {}) });
          return;
        }
        history.record({ kind: 'err', process: this.name, channel, msgId, attempt, code: body.error?.code ?? res.status });
      } catch (err) {
        // A timeout is an answer never heard (0); a refused or reset connection (-1) may still have been taken: both are indeterminate.
        history.record({ kind: 'err', process: this.name, channel, msgId, attempt, code: (err as Error).name === 'TimeoutError' ? 0 : -1 });
      }
      if (this.stopped && attempt > 1) return;
      await sleep(200 * attempt);
    }
  }
}
