import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { REPLAY_DRAIN_TIMEOUT_MS } from '../core/defaults.js';
import type { Recovery, StoredMessage } from '../core/engine.js';
import type { Identity } from '../core/identity.js';
import { channelKeyOf, messageFrame, type Outbound } from '../core/outbound.js';
import { recoveryPages } from '../core/recovery-pages.js';
import { goLive, type Peer, type Subscription } from '../core/router.js';
import type { AdmissionTicket, Evictable } from './admission.js';
import { StreamCursor, parseCursor, type ChannelPosition } from './sse-cursor.js';
import { closingComment, discontinuityBlock, eventBlocks, idBlock, openingBlock, refusalBody, refusalHeaders, streamHeaders } from './sse-framing.js';
import type { SseHandlers, SseTransportOptions } from './sse-options.js';
import { assertOriginAllowed, lastEventIdOf, requestedChannels, urlTokenOf } from './sse-request.js';
import { EventStreamWriter, type WriterHost, type WriterOwner } from './sse-writer.js';

/** What a stream needs of the transport that serves it. */
export interface SseStreamHost extends WriterHost {
  readonly options: SseTransportOptions;
  readonly handlers: SseHandlers;
  /** `options.maxChannels`, capped at what a cursor holds. */
  readonly maxChannels: number;
  /** A live message's events, encoded once for every stream that gets it. */
  sharedEvents(out: Outbound): string;
  /** The stream ended: the transport lets go of it. */
  forget(stream: SseStream): void;
}

type State = 'opening' | 'open' | 'ended';

/**
 * One stream: admitted (origin, credential, channels, a place in the budget), then a peer of the
 * router on each of its channels, caught up from its cursor and then forwarded what is live.
 */
export class SseStream implements Peer, Evictable, WriterOwner {
  readonly connectionId = `sse-${randomBytes(9).toString('base64url')}`;
  readonly echo = true;
  identity?: Identity;
  private state: State = 'opening';
  private ticket?: AdmissionTicket;
  private evicted = false;
  private channels: string[] = [];
  private readonly index = new Map<string, number>();
  private subs: Subscription[] = [];
  private cursor?: StreamCursor;
  /** The cursor as the client last had it: a catch-up that moved it without an event says so. */
  private idSent = '';
  private readonly writer: EventStreamWriter;

  constructor(
    private readonly host: SseStreamHost,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.writer = new EventStreamWriter(this, req, res, host);
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Read after every await: the client may have gone meanwhile. */
  get isEnded(): boolean {
    return this.state === 'ended';
  }

  get lastWrite(): number {
    return this.writer.lastWrite;
  }

  /** A newer connection took this one's pending place while its token was checked. */
  evict(): void {
    this.evicted = true;
  }

  async open(params: URLSearchParams): Promise<void> {
    const { options, handlers } = this.host;
    this.res.on('close', () => this.dispose());
    // A socket error ends the stream; it must not reach the process as an unhandled 'error'.
    this.res.on('error', () => this.dispose());
    try {
      assertOriginAllowed(this.req, options.allowedOrigins);
      this.ticket = options.admission.admit(this);
      const identity = await handlers.authenticate(this.req, urlTokenOf(params));
      if (this.isEnded) return;
      if (this.evicted) throw new HubbubError(ErrorCode.Unavailable, 'too many connections are authenticating: try again');
      this.channels = requestedChannels(params, identity, options.path, this.host.maxChannels);
      if (!this.ticket.promote(identity.app)) throw new HubbubError(ErrorCode.Unavailable, 'too many connections: try again later');
      this.identity = identity;
      await this.start(lastEventIdOf(this.req, params));
    } catch (err) {
      this.failed(err);
    }
  }

  /**
   * Subscribe every channel with its live messages held back, decide where each starts (the cursor's
   * position, or the channel's current one), answer, then catch each channel up and let it go live.
   */
  private async start(lastEventId: string | undefined): Promise<void> {
    const { router, engine } = this.host.handlers;
    const app = this.identity!.app;
    this.channels.forEach((channel, i) => this.index.set(channel, i));
    this.subs = this.channels.map(() => ({ peer: this, pending: [] }));
    await Promise.all(this.channels.map((channel, i) => router.subscribe(channelKeyOf(app, channel), this.subs[i])));
    if (this.isEnded) return;
    const cursor = (this.cursor = new StreamCursor(this.channels));
    const resume = cursor.resumeFrom(parseCursor(lastEventId));
    // Where each channel starts: the cursor's position, else the channel's own. History is read later,
    // a channel and a page at a time, as the stream drains.
    const starts = await Promise.all(this.channels.map((channel, i) => resume[i] ?? engine.position(channelKeyOf(app, channel))));
    if (this.isEnded) return;
    starts.forEach((start, i) => cursor.set(i, start));
    this.res.writeHead(200, streamHeaders());
    // Heartbeats keep the socket busy: the HTTP idle timeout would cut a stream with a long --heartbeat.
    this.req.socket.setTimeout(0);
    this.state = 'open';
    this.host.counters.streamsOpened++;
    // The first block is an id alone: a stream cut before its first message still resumes from here.
    this.write(openingBlock((this.idSent = cursor.text)));
    for (let i = 0; i < this.channels.length; i++) {
      await this.catchUp(i, resume[i], starts[i]);
      if (this.isEnded) return;
    }
    if (cursor.text !== this.idSent) this.write(idBlock((this.idSent = cursor.text)));
  }

  /**
   * One channel from where it starts to live, as `Session.subscribe` does: what the engine recovered,
   * then what arrived meanwhile past it, then live messages (the router skips those it still delivers
   * that the catch-up already sent).
   */
  private async catchUp(i: number, from: ChannelPosition | undefined, start: ChannelPosition): Promise<void> {
    const cursor = this.cursor!;
    const sub = this.subs[i];
    let lastSent = start.seq;
    if (from) {
      const key = channelKeyOf(this.identity!.app, this.channels[i]);
      let first: Recovery | undefined;
      let replayed: number | undefined;
      for await (const page of recoveryPages(this.host.handlers.engine, key, from.seq, from.epoch, this.replayChunkBytes)) {
        if (!first) {
          first = page;
          if (!page.resumed) {
            // Messages may be missing: say so first, with the cursor moved to just before what is retained.
            const oldest = page.messages[0]?.seq;
            cursor.set(i, { seq: oldest !== undefined ? oldest - 1 : page.seq, epoch: page.epoch });
            this.write(discontinuityBlock((this.idSent = cursor.text), this.channels[i]));
          }
        }
        await this.replay(i, page.messages);
        if (this.isEnded) return;
        replayed = page.messages.at(-1)?.seq ?? replayed;
        // The next page is read once this one has mostly gone out.
        if (page.more && !(await this.writer.drain(REPLAY_DRAIN_TIMEOUT_MS))) return this.cut('the catch-up was not read in time');
      }
      const sameStream = first!.epoch === from.epoch && first!.resumed;
      // Nothing replayed: the cursor stands (unless it was past the stream's end, or of another stream).
      lastSent = replayed ?? (sameStream ? Math.min(from.seq, first!.seq) : first!.seq);
      cursor.set(i, { seq: lastSent, epoch: first!.epoch });
    }
    if (!goLive(sub, lastSent, (m) => this.sendStored(i, m))) return this.cut('too many messages arrived while the stream caught up');
  }

  /** A catch-up in pieces, waiting for the socket to drain between them. */
  /** Bytes of catch-up read and written before waiting for the socket to drain. */
  private get replayChunkBytes(): number {
    return Math.min(this.host.options.maxReplayChunkBytes, this.host.options.maxBufferedBytes / 2);
  }

  private async replay(i: number, messages: StoredMessage[]): Promise<void> {
    const chunk = this.replayChunkBytes;
    let queued = 0;
    for (const m of messages) {
      queued += this.sendStored(i, m);
      if (queued < chunk) continue;
      queued = 0;
      if (!(await this.writer.drain(REPLAY_DRAIN_TIMEOUT_MS))) return this.cut('the catch-up was not read in time');
      if (this.isEnded) return;
    }
  }

  /** A message of the catch-up (this stream's alone); returns about how many bytes that queued. */
  private sendStored(i: number, m: StoredMessage): number {
    const text = eventBlocks(messageFrame(this.channels[i], m)) + this.idTail(i, m.seq);
    this.write(text);
    return text.length;
  }

  /** A live message from the router, shared with every stream on the channel. */
  deliver(out: Outbound): void {
    if (this.state !== 'open' || out.frame.t !== 'msg') return;
    const i = this.index.get(out.frame.channel);
    if (i === undefined) return;
    this.write(this.host.sharedEvents(out) + this.idTail(i, out.frame.seq));
  }

  /** What ends a message's last block: the cursor moved past it (an ephemeral message moves nothing). */
  private idTail(i: number, seq: number | undefined): string {
    if (seq === undefined) return '\n';
    this.cursor!.advance(i, seq);
    this.idSent = this.cursor!.text;
    return idBlock(this.idSent);
  }

  /** @internal Queue text; it goes out with the stream's next flush. */
  write(text: string): void {
    this.writer.write(text);
  }

  /** End from the server side: a comment says why (EventSource shows none), then the stream ends and the client reconnects. */
  end(reason: string): void {
    if (this.isEnded) return;
    if (this.state === 'opening') return this.refuse(new HubbubError(ErrorCode.Unavailable, `${reason}: reconnect`));
    this.write(closingComment(reason));
    this.writer.flush();
    this.res.end();
    this.dispose();
  }

  /** @internal A reader that does not keep up: it cannot be told, only cut; a reconnect resumes from its last id. */
  cut(why: string): void {
    if (this.isEnded) return;
    this.host.counters.slowConsumersCut++;
    this.host.handlers.log?.({ app: this.identity?.app, clientId: this.identity?.clientId, channels: this.channels.length, why }, `sse stream cut: slow consumer (${why})`);
    this.res.destroy();
    this.dispose();
  }

  /** Opening failed: a JSON error if nothing was sent yet, else the stream ends. */
  private failed(err: unknown): void {
    if (this.isEnded) return;
    if (!(err instanceof HubbubError)) {
      this.host.handlers.log?.({ err: err instanceof Error ? err.message : String(err) }, 'sse stream failed');
    }
    if (this.state === 'open') {
      this.end('server error');
      return;
    }
    this.refuse(err instanceof HubbubError ? err : new HubbubError(ErrorCode.Server, 'internal server error'));
  }

  /** Answer with a coded JSON error, as the HTTP API does; an EventSource gives up on it (any status but 200). */
  refuse(err: HubbubError): void {
    this.host.counters.refused++;
    if (!this.res.headersSent && !this.res.destroyed) {
      this.res.writeHead(err.statusCode, refusalHeaders(err));
      this.res.end(refusalBody(err));
    }
    this.dispose();
  }

  /** The stream is gone (either side): it leaves every channel and its place in the budget. */
  private dispose(): void {
    if (this.isEnded) return;
    this.state = 'ended';
    this.writer.stop();
    this.ticket?.release();
    this.host.forget(this);
    const app = this.identity?.app;
    if (app === undefined) return;
    this.subs.forEach((sub, i) => this.host.handlers.router.unsubscribe(channelKeyOf(app, this.channels[i]), sub));
  }
}
