/**
 * The clients of a chaos run, each recording what it does into the history:
 *
 * - Publisher: an SDK connection publishing with message ids of its own choosing, stable across the
 *   SDK's resends and across its own retries after an error (the exactly-once promise of
 *   docs/protocol.md), through the public `channel.publish(name, data, { messageId })`, whose result
 *   carries the serial and whether the id was a duplicate.
 * - Subscriber: an SDK connection attached to some channels, resuming by itself after every drop,
 *   optionally present on the presence channel (re-entering after reconnects).
 * - SseReader: a stream over some channels that reconnects with Last-Event-ID to any node, as an
 *   EventSource does, and drops a stream that went silent for longer than the heartbeat promises.
 */
import { Realtime } from '@hubbub/client';
import { HubbubError } from '@hubbub/protocol';
import { SseClient, type SseEvent } from '../support/sse-client.js';
import type { HistoryRecorder } from './history.js';
import type { Random } from './random.js';
import { PublishLoop, sleep, type Attempt } from './publish-loop.js';

export interface ClientContext {
  history: HistoryRecorder;
  token(clientId: string): Promise<string>;
  wsUrl(node: number): string;
  httpUrl(node: number): string;
  nodes: number;
  heartbeatMs: number;
}

export class Publisher extends PublishLoop {
  private constructor(
    name: string,
    private readonly rt: Realtime,
    channels: string[],
    rng: Random,
    ctx: ClientContext,
  ) {
    super(name, channels, rng, ctx);
  }

  static async open(name: string, node: number, channels: string[], rng: Random, ctx: ClientContext): Promise<Publisher> {
    const rt = new Realtime({ endpoint: ctx.wsUrl(node), token: await ctx.token(name), reconnectDelayMs: 200, reconnectMaxDelayMs: 2000 });
    return new Publisher(name, rt, channels, rng, ctx);
  }

  close(): void {
    this.rt.close();
  }

  protected async attempt(channel: string, msgId: string): Promise<Attempt> {
    try {
      const result = await this.rt.channels.get(channel).publish('m', { op: msgId }, { messageId: msgId });
      return { ok: true, serial: result.serial, duplicate: result.duplicate };
    } catch (err) {
      return { ok: false, code: err instanceof HubbubError ? err.code : -1 };
    }
  }
}

export class Subscriber {
  private gen = 0;
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly rt: Realtime,
    readonly present: boolean,
  ) {}

  static async open(name: string, node: number, channels: string[], presenceChannel: string | undefined, ctx: ClientContext): Promise<Subscriber> {
    const rt = new Realtime({ endpoint: ctx.wsUrl(node), token: await ctx.token(name), reconnectDelayMs: 200, reconnectMaxDelayMs: 2000, autoReenterPresence: true });
    const sub = new Subscriber(name, rt, presenceChannel !== undefined);
    const { history } = ctx;
    rt.connection.on('connected', () => history.record({ kind: 'connected', process: name, gen: ++sub.gen, node }));
    await Promise.all(
      channels.map((channel) => {
        const ch = rt.channels.get(channel);
        ch.onAttached((e) => history.record({ kind: 'attached', process: name, channel, gen: sub.gen, discontinuity: e.discontinuity }));
        ch.on((m) => history.record({ kind: 'deliver', process: name, channel, gen: sub.gen, msgId: m.id, serial: m.serial }));
        return ch.attach();
      }),
    );
    if (presenceChannel) await rt.channels.get(presenceChannel).presence.enter({ who: name });
    return sub;
  }

  get connected(): boolean {
    return this.rt.connection.state === 'connected';
  }

  close(history: HistoryRecorder): void {
    if (this.closed) return;
    this.closed = true;
    history.record({ kind: 'end', process: this.name });
    this.rt.close();
  }
}

/** An SDK connection watching presence: its view (by client id) must converge too, not only the server's. */
export class PresenceWatcher {
  private constructor(
    readonly name: string,
    private readonly rt: Realtime,
    private readonly channel: string,
  ) {}

  static async open(name: string, node: number, channel: string, ctx: ClientContext): Promise<PresenceWatcher> {
    const rt = new Realtime({ endpoint: ctx.wsUrl(node), token: await ctx.token(name), reconnectDelayMs: 200, reconnectMaxDelayMs: 2000 });
    const presence = rt.channels.get(channel).presence;
    presence.on(() => undefined);
    await presence.get();
    return new PresenceWatcher(name, rt, channel);
  }

  /** The client ids this watcher sees present now (once its view is in sync). */
  async members(): Promise<string[]> {
    return (await this.rt.channels.get(this.channel).presence.get()).map((m) => m.clientId).sort();
  }

  close(): void {
    this.rt.close();
  }
}

export class SseReader {
  private gen = 0;
  private stopped = false;
  private stream?: SseClient;
  private lastEventId?: string;
  private lastHeard = 0;
  private loop?: Promise<void>;

  constructor(
    readonly name: string,
    private readonly channels: string[],
    private readonly rng: Random,
    private readonly ctx: ClientContext,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  close(history: HistoryRecorder): Promise<void> {
    if (!this.stopped) history.record({ kind: 'end', process: this.name });
    this.stopped = true;
    this.stream?.close();
    return this.loop ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const token = await this.ctx.token(this.name);
    const query = this.channels.map((c) => `channel=${encodeURIComponent(c)}`).join('&');
    while (!this.stopped) {
      const node = this.rng.int(0, this.ctx.nodes - 1);
      try {
        await this.readOnce(`${this.ctx.httpUrl(node)}/sse?${query}`, token, node);
      } catch {
        // The node is down or cut: an EventSource waits its retry and tries again, and so does this.
      }
      if (!this.stopped) await sleep(this.stream?.retry ?? 1000);
    }
  }

  private async readOnce(url: string, token: string, node: number): Promise<void> {
    const { history } = this.ctx;
    // Events can be read before open() returns: each stream's generation is fixed before it opens,
    // and the stream counts as attached at the first thing it hears or once open() returns, whichever is first.
    const gen = this.gen + 1;
    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      this.gen = gen;
      this.lastHeard = performance.now();
      history.record({ kind: 'connected', process: this.name, gen, node });
      for (const channel of this.channels) history.record({ kind: 'attached', process: this.name, channel, gen, discontinuity: false });
    };
    const stream = await SseClient.open(url, {
      headers: { authorization: `Bearer ${token}` },
      ...(this.lastEventId !== undefined ? { lastEventId: this.lastEventId } : {}),
      onEvent: (e) => {
        open();
        this.heard(e, gen);
      },
      onComment: () => {
        open();
        this.lastHeard = performance.now();
      },
    });
    this.stream = stream;
    if (stream.status !== 200) {
      stream.close();
      return;
    }
    open();
    // A stream behind a stopped node or a partition just goes quiet: give it up as a browser's network stack would.
    const watchdog = setInterval(() => {
      if (performance.now() - this.lastHeard > 3 * this.ctx.heartbeatMs) stream.close();
    }, this.ctx.heartbeatMs / 2);
    await stream.ended;
    clearInterval(watchdog);
    if (stream.lastEventId) this.lastEventId = stream.lastEventId;
  }

  private heard(e: SseEvent, gen: number): void {
    this.lastHeard = performance.now();
    const { history } = this.ctx;
    const data = JSON.parse(e.data) as { channel: string; id?: string; seq?: number };
    if (e.event === 'discontinuity') {
      history.record({ kind: 'attached', process: this.name, channel: data.channel, gen, discontinuity: true });
      return;
    }
    history.record({ kind: 'deliver', process: this.name, channel: data.channel, gen, msgId: data.id ?? '?', serial: data.seq });
  }
}
