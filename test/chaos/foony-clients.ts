/**
 * Clients of a chaos run on the binary Foony dialect, through the published `@foony/realtime` 0.16.0
 * SDK (the `foony-realtime-0.16` alias; docs/compat-foony.md), recording into the same history as the
 * Hubbub SDK clients (clients.ts) so the checker holds them to the same rules:
 *
 * - FoonySubscriber: a Realtime client over WebSocket or over long-polling (`transport:
 *   'long-polling'`, served by compat/foony/long-poll.ts) attached to some channels, left to resume by
 *   itself. The SDK reports how a re-attach went on the channel: `attached` (or `update` when it was
 *   already attached, as after its own gap-filling fetch) with `resumed`. Every attach after the first
 *   that does not say `resumed: true` is a discontinuity in the history: the SDK tells its app that
 *   messages may be missing (a cursor outside the window, or no cursor at all).
 * - FoonyPublisher: publishes with message ids of its own choosing, stable across its retries, as
 *   the SDK's publish frame allows (`messageId`, "stable across resends"). It sends through the SDK's
 *   request path, since `channel.publish` picks its own ids, batches, and returns no serial.
 */
import * as foony from 'foony-realtime-0.16';
import type { HistoryRecorder } from './history.js';
import type { ClientContext } from './clients.js';
import type { Random } from './random.js';
import { PublishLoop, type Attempt } from './publish-loop.js';

/** An attempt still unanswered after this long counts as failed (never settled: code 0) and is retried. */
const ATTEMPT_TIMEOUT_MS = 8000;

export type FoonyTransport = 'websocket' | 'long-polling';

/** The SDK's request path: a frame that wants an ack, answered with the ack (a publish's carries `seq`). */
interface FoonyRequests {
  request(frame: { t: 'pub'; channel: string; name: string; data: unknown; messageId: string }): Promise<{ seq?: number }>;
}

function realtime(name: string, node: number, transport: FoonyTransport, ctx: ClientContext): foony.Realtime {
  return new foony.Realtime({
    endpoint: ctx.wsUrl(node),
    // A callback, so every reconnect has a token (as an app long-running would do it).
    authCallback: () => ctx.token(name),
    transport,
    initialReconnectDelayMs: 200,
    maxReconnectDelayMs: 2000,
  });
}

export class FoonySubscriber {
  private gen = 0;
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly rt: foony.Realtime,
  ) {}

  static async open(name: string, node: number, channels: string[], transport: FoonyTransport, ctx: ClientContext): Promise<FoonySubscriber> {
    const rt = realtime(name, node, transport, ctx);
    const sub = new FoonySubscriber(name, rt);
    const { history } = ctx;
    rt.connection.on((state) => {
      if (state === 'connected') history.record({ kind: 'connected', process: name, gen: ++sub.gen, node });
    });
    await Promise.all(
      channels.map((channel) => {
        const ch = rt.channels.get(channel);
        let attachedBefore = false;
        ch.on('attached', (change) => {
          // The first attach starts the subscription; a later one is a resume, exact only when it says so.
          const discontinuity = attachedBefore && !change.resumed;
          attachedBefore = true;
          history.record({ kind: 'attached', process: name, channel, gen: sub.gen, discontinuity });
        });
        ch.on('update', (change) => {
          // Told while attached (its gap-filling fetch fell outside the window): what follows is a new
          // segment, so it gets a generation of its own, as a reconnect would.
          if (!change.resumed) sub.gen++;
          history.record({ kind: 'attached', process: name, channel, gen: sub.gen, discontinuity: !change.resumed });
        });
        ch.subscribe((m) => history.record({ kind: 'deliver', process: name, channel, gen: sub.gen, msgId: m.messageId, ...(m.seq ? { serial: m.seq } : {}) }));
        return ch.attach();
      }),
    );
    return sub;
  }

  close(history: HistoryRecorder): void {
    if (this.closed) return;
    this.closed = true;
    history.record({ kind: 'end', process: this.name });
    this.rt.close();
  }
}

export class FoonyPublisher extends PublishLoop {
  private constructor(
    name: string,
    private readonly rt: foony.Realtime,
    channels: string[],
    rng: Random,
    ctx: ClientContext,
  ) {
    super(name, channels, rng, ctx);
  }

  static open(name: string, node: number, channels: string[], rng: Random, ctx: ClientContext): FoonyPublisher {
    return new FoonyPublisher(name, realtime(name, node, 'websocket', ctx), channels, rng, ctx);
  }

  close(): void {
    this.rt.close();
  }

  protected async attempt(channel: string, msgId: string): Promise<Attempt> {
    const requests = this.rt.connection as unknown as FoonyRequests;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ATTEMPT_TIMEOUT_MS)));
    try {
      const ack = await Promise.race([requests.request({ t: 'pub', channel, name: 'm', data: { op: msgId }, messageId: msgId }), timeout]);
      return ack === 'timeout' ? { ok: false, code: 0 } : { ok: true, serial: ack.seq };
    } catch (err) {
      // The SDK rejects with the server's error frame (its code) or, when the connection dropped, a bare Error.
      const code = (err as { code?: unknown }).code;
      return { ok: false, code: typeof code === 'number' ? code : -1 };
    } finally {
      clearTimeout(timer);
    }
  }
}
