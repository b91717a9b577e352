/**
 * A publisher of a chaos run that publishes over REST (`POST /channels/:channel/messages`,
 * docs/server.md) as a backend would: each message under an id of its own (`id`, the dedup id), and
 * after an error or a timeout the same id again on the next node, until one acknowledges it. Each
 * attempt is recorded as the SDK publishers record theirs (invoke, then ok or err), so a publish that
 * never got an answer is indeterminate for the checker: in history at most once.
 */
import type { ClientContext } from './clients.js';
import type { Random } from './random.js';
import { PublishLoop, type Attempt } from './publish-loop.js';

/** A request unanswered after this long is abandoned (code 0: never settled) and tried elsewhere. */
const REQUEST_TIMEOUT_MS = 5000;

export class RestPublisher extends PublishLoop {
  private auth = '';

  constructor(
    name: string,
    private readonly firstNode: number,
    channels: string[],
    rng: Random,
    ctx: ClientContext,
  ) {
    super(name, channels, rng, ctx);
  }

  protected override async prepare(): Promise<void> {
    this.auth = `Bearer ${await this.ctx.token(this.name)}`;
  }

  /** Stop without waiting (a run that failed): the attempt in flight times out on its own. */
  close(): void {
    this.stopped = true;
  }

  /** Each attempt on the next node. */
  protected async attempt(channel: string, msgId: string, attempt: number): Promise<Attempt> {
    const node = (this.firstNode + attempt - 1) % this.ctx.nodes;
    try {
      const res = await fetch(`${this.ctx.httpUrl(node)}/channels/${encodeURIComponent(channel)}/messages`, {
        method: 'POST',
        headers: { authorization: this.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'm', data: { op: msgId }, id: msgId }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = (await res.json()) as { serial?: number; duplicate?: boolean; error?: { code?: number } };
      return res.ok ? { ok: true, serial: body.serial, duplicate: body.duplicate } : { ok: false, code: body.error?.code ?? res.status };
    } catch (err) {
      // A timeout is an answer never heard (0); a refused or reset connection (-1) may still have been taken: both are indeterminate.
      return { ok: false, code: (err as Error).name === 'TimeoutError' ? 0 : -1 };
    }
  }
}
