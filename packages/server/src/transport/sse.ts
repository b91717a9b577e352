import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, HubbubError, assertAllowed, assertChannelName, type MessageFrame } from '@hubbub/protocol';
import type { Engine, Recovery, StoredMessage } from '../core/engine.js';
import type { Identity } from '../core/identity.js';
import { channelKeyOf, messageFrame, type Outbound } from '../core/outbound.js';
import type { Peer, Router, Subscription } from '../core/router.js';
import type { Admission, AdmissionTicket, Evictable } from './admission.js';
import { MAX_SSE_CHANNELS, StreamCursor, parseCursor, type ChannelPosition } from './sse-cursor.js';

/**
 * Server-Sent Events for `hubbub serve`: `GET /sse?channel=A&channel=B` opens a one-way stream of the
 * channels' messages, for an `EventSource` in a browser or any HTTP client. Each message is an event
 * named after it, whose data is the message as JSON and whose `id:` is a cursor over every channel of
 * the stream (sse-cursor.ts); a reconnect with `Last-Event-ID` catches up on each channel from there,
 * exactly as a WebSocket `sub` with `lastSerial` does, on whichever node it reaches. The stream holds a
 * connection's place in the budget shared with the other transports.
 */

export interface SseTransportOptions {
  /** Where streams are served, e.g. `/sse`. */
  path: string;
  /** A stream quiet for this long gets a comment line; tokens are checked for expiry four times as often. */
  heartbeatMs: number;
  /** Unsent bytes past which a stream is a slow consumer and is cut. */
  maxBufferedBytes: number;
  /** Channels one stream may carry (at most `MAX_SSE_CHANNELS`). */
  maxChannels: number;
  /** Bytes of a catch-up written before waiting for the socket to drain. */
  maxReplayChunkBytes: number;
  /** When set, pages of other origins get 403 (requests without `Origin` pass, as on ws). */
  allowedOrigins?: string[];
  /** The budget shared with the other transports: pending while the token is checked, then authenticated. */
  admission: Admission;
}

export interface SseHandlers {
  engine: Engine;
  router: Router;
  /**
   * Who is asking: the `Authorization` header, else `urlToken` (the `token` query parameter, for an
   * EventSource, which cannot send headers). Throws a HubbubError (40101, 40102) when refused.
   */
  authenticate(req: IncomingMessage, urlToken: string | undefined): Promise<Identity>;
  /** A stream ended for a reason worth a log line (slow consumer, server error). */
  log?(fields: Record<string, unknown>, message: string): void;
}

/** How long a catch-up waits for the socket to drain between two pieces before the reader counts as slow. */
const REPLAY_DRAIN_TIMEOUT_MS = 30_000;

/** The `retry:` an EventSource waits before reconnecting: spread over this range so a crowd comes back spread out. */
const RETRY_MIN_MS = 1_000;
const RETRY_SPREAD_MS = 2_000;

/** A refusal for a full server says when to try again. */
const RETRY_AFTER_SECONDS = '5';

/** A message name that would break the stream's lines is sent as the default event type; `data.name` keeps it exact. */
const DEFAULT_EVENT = 'message';

type State = 'opening' | 'open' | 'ended';

/**
 * Serves `GET {path}`. Writes are queued per stream and flushed after the callback that produced them,
 * one write per stream per turn; a message fanned out to many streams is encoded once.
 */
export class SseTransport {
  private readonly streams = new Set<SseStream>();
  private dirty: SseStream[] = [];
  private flushScheduled = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  /** Counters for metrics: streams opened and refused, events and bytes written, slow readers cut. */
  readonly counters = { streamsOpened: 0, refused: 0, eventsOut: 0, bytesOut: 0, slowConsumersCut: 0 };
  readonly maxChannels: number;

  constructor(
    readonly options: SseTransportOptions,
    readonly handlers: SseHandlers,
  ) {
    this.maxChannels = Math.min(options.maxChannels, MAX_SSE_CHANNELS);
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(25, Math.floor(options.heartbeatMs / 4)));
    this.sweepTimer.unref();
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Take the request if it is for the stream path; false leaves it to the caller. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    if ((q < 0 ? url : url.slice(0, q)) !== this.options.path) return false;
    const stream = new SseStream(this, req, res);
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      stream.refuse(new HubbubError(ErrorCode.NotFound, `${req.method} is not allowed on ${this.options.path}: open it with GET`, 405));
      return true;
    }
    if (this.closed) {
      stream.refuse(new HubbubError(ErrorCode.Unavailable, 'server shutting down: reconnect'));
      return true;
    }
    this.streams.add(stream);
    void stream.open(new URLSearchParams(q < 0 ? '' : url.slice(q + 1)));
    return true;
  }

  /** Shutdown: every stream ends after what is queued, and an EventSource reconnects (elsewhere). */
  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const stream of [...this.streams]) stream.end('server restarting');
  }

  /** End the streams whose identity matches (e.g. its API key was revoked); returns how many. */
  closeWhere(matches: (identity: Identity) => boolean, reason: string): number {
    let n = 0;
    for (const stream of [...this.streams]) {
      if (stream.identity && matches(stream.identity)) {
        stream.end(reason);
        n++;
      }
    }
    return n;
  }

  /** @internal A message's events for every stream that gets it, encoded on the first (kept in its memo). */
  sharedEvents(out: Outbound): string {
    return out.memo(this, () => eventBlocks(out.frame as MessageFrame));
  }

  /** @internal */
  markDirty(stream: SseStream): void {
    this.dirty.push(stream);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(this.flushAll);
  }

  /** @internal */
  forget(stream: SseStream): void {
    this.streams.delete(stream);
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const stream of dirty) stream.flush();
  };

  /** Heartbeats for quiet streams; streams whose token ran out end. */
  private sweep(): void {
    const now = Date.now();
    const quietMs = (this.options.heartbeatMs * 3) / 4;
    for (const stream of this.streams) {
      const expiresAt = stream.identity?.expiresAt;
      if (expiresAt !== undefined && expiresAt <= now) stream.end('token expired');
      else if (stream.isOpen && now - stream.lastWrite >= quietMs) stream.write(': heartbeat\n\n');
    }
  }
}

/** One stream: a peer of the router on each of its channels. */
class SseStream implements Peer, Evictable {
  readonly connectionId = `sse-${randomBytes(9).toString('base64url')}`;
  readonly echo = true;
  identity?: Identity;
  lastWrite = 0;
  private state: State = 'opening';
  private ticket?: AdmissionTicket;
  private evicted = false;
  private channels: string[] = [];
  private readonly index = new Map<string, number>();
  private subs: Subscription[] = [];
  private cursor?: StreamCursor;
  /** The cursor as the client last had it: a catch-up that moved it without an event says so. */
  private idSent = '';
  private queue: string[] = [];
  private scheduled = false;
  private drains: Array<() => void> = [];

  constructor(
    private readonly transport: SseTransport,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {}

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Read after every await: the client may have gone meanwhile. */
  private get ended(): boolean {
    return this.state === 'ended';
  }

  /** A newer connection took this one's pending place while its token was checked. */
  evict(): void {
    this.evicted = true;
  }

  async open(params: URLSearchParams): Promise<void> {
    const { options, handlers } = this.transport;
    this.res.on('close', () => this.dispose());
    // A socket error ends the stream; it must not reach the process as an unhandled 'error'.
    this.res.on('error', () => this.dispose());
    try {
      const origin = this.req.headers.origin;
      if (origin && options.allowedOrigins && !options.allowedOrigins.includes(origin)) {
        throw new HubbubError(ErrorCode.Forbidden, `origin ${JSON.stringify(origin.slice(0, 100))} is not allowed`);
      }
      this.ticket = options.admission.admit(this);
      const identity = await handlers.authenticate(this.req, params.get('token') ?? undefined);
      if (this.ended) return;
      if (this.evicted) throw new HubbubError(ErrorCode.Unavailable, 'too many connections are authenticating: try again');
      this.channels = this.channelsOf(params, identity);
      if (!this.ticket.promote(identity.app)) throw new HubbubError(ErrorCode.Unavailable, 'too many connections: try again later');
      this.identity = identity;
      await this.start(lastEventIdOf(this.req, params));
    } catch (err) {
      this.failed(err);
    }
  }

  /** The channels asked for, each valid and allowed, named once each. */
  private channelsOf(params: URLSearchParams, identity: Identity): string[] {
    const channels = [...new Set(params.getAll('channel'))];
    const path = this.transport.options.path;
    if (channels.length === 0) throw new HubbubError(ErrorCode.BadFrame, `name at least one channel: ${path}?channel=NAME`);
    for (const channel of channels) assertChannelName(channel);
    const max = this.transport.maxChannels;
    if (channels.length > max) throw new HubbubError(ErrorCode.RateLimited, `at most ${max} channels per stream; this one names ${channels.length}`);
    for (const channel of channels) assertAllowed(identity.capability, channel, 'subscribe');
    return channels;
  }

  /**
   * Subscribe every channel with its live messages held back, decide where each starts (the cursor's
   * position, or the channel's current one), answer, then catch each channel up and let it go live.
   */
  private async start(lastEventId: string | undefined): Promise<void> {
    const { router, engine } = this.transport.handlers;
    const app = this.identity!.app;
    this.channels.forEach((channel, i) => this.index.set(channel, i));
    this.subs = this.channels.map(() => ({ peer: this, pending: [] }));
    await Promise.all(this.channels.map((channel, i) => router.subscribe(channelKeyOf(app, channel), this.subs[i])));
    if (this.ended) return;
    const cursor = (this.cursor = new StreamCursor(this.channels));
    const resume = cursor.resumeFrom(parseCursor(lastEventId));
    const starts = await Promise.all(
      this.channels.map((channel, i) => {
        const from = resume[i];
        const key = channelKeyOf(app, channel);
        return from ? engine.recover(key, from.seq, from.epoch) : engine.position(key);
      }),
    );
    if (this.ended) return;
    starts.forEach((start, i) => cursor.set(i, resume[i] ?? start));
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      // A stream is never followed by another request on its socket.
      connection: 'close',
    });
    // Heartbeats keep the socket busy: the HTTP idle timeout would cut a stream with a long --heartbeat.
    this.req.socket.setTimeout(0);
    this.state = 'open';
    this.transport.counters.streamsOpened++;
    // The first block is an id alone: a stream cut before its first message still resumes from here.
    const retry = RETRY_MIN_MS + Math.floor(Math.random() * RETRY_SPREAD_MS);
    this.write(`retry: ${retry}\nid: ${(this.idSent = cursor.text)}\n\n`);
    for (let i = 0; i < this.channels.length; i++) {
      await this.catchUp(i, resume[i], starts[i]);
      if (this.ended) return;
    }
    if (cursor.text !== this.idSent) this.write(`id: ${(this.idSent = cursor.text)}\n\n`);
  }

  /**
   * One channel from where it starts to live, as `Session.subscribe` does: what the engine recovered,
   * then what arrived meanwhile past it, then live messages (the router skips those it still delivers
   * that the catch-up already sent).
   */
  private async catchUp(i: number, from: ChannelPosition | undefined, start: Recovery | { seq: number; epoch: string }): Promise<void> {
    const cursor = this.cursor!;
    const sub = this.subs[i];
    let lastSent = start.seq;
    if (from) {
      const recovery = start as Recovery;
      if (!recovery.resumed) {
        // Messages may be missing: say so first, with the cursor moved to just before what is retained.
        const first = recovery.messages[0]?.seq;
        cursor.set(i, { seq: first !== undefined ? first - 1 : recovery.seq, epoch: recovery.epoch });
        this.write(`event: discontinuity\nid: ${(this.idSent = cursor.text)}\ndata: ${JSON.stringify({ channel: this.channels[i] })}\n\n`);
      }
      await this.replay(i, recovery.messages);
      if (this.ended) return;
      const sameStream = recovery.epoch === from.epoch && recovery.resumed;
      // Nothing replayed: the cursor stands (unless it was past the stream's end, or of another stream).
      lastSent = recovery.messages.at(-1)?.seq ?? (sameStream ? Math.min(from.seq, recovery.seq) : recovery.seq);
      cursor.set(i, { seq: lastSent, epoch: recovery.epoch });
    }
    const pending = sub.pending ?? [];
    sub.pending = undefined;
    if (sub.overflowed) return this.cut('too many messages arrived while the stream caught up');
    for (const m of pending) if (m.seq === undefined || m.seq > lastSent) this.sendStored(i, m);
    sub.replayedThrough = lastSent;
    sub.replayedAt = Date.now();
  }

  /** A catch-up in pieces, waiting for the socket to drain between them. */
  private async replay(i: number, messages: StoredMessage[]): Promise<void> {
    const chunk = Math.min(this.transport.options.maxReplayChunkBytes, this.transport.options.maxBufferedBytes / 2);
    let queued = 0;
    for (const m of messages) {
      queued += this.sendStored(i, m);
      if (queued < chunk) continue;
      queued = 0;
      if (!(await this.drain(REPLAY_DRAIN_TIMEOUT_MS))) return this.cut('the catch-up was not read in time');
      if (this.ended) return;
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
    this.write(this.transport.sharedEvents(out) + this.idTail(i, out.frame.seq));
  }

  /** What ends a message's last block: the cursor moved past it (an ephemeral message moves nothing). */
  private idTail(i: number, seq: number | undefined): string {
    if (seq === undefined) return '\n';
    this.cursor!.advance(i, seq);
    this.idSent = this.cursor!.text;
    return `id: ${this.idSent}\n\n`;
  }

  /** @internal Queue text; it goes out with the stream's next flush. */
  write(text: string): void {
    if (this.ended) return;
    this.queue.push(text);
    if (this.scheduled) return;
    this.scheduled = true;
    this.transport.markDirty(this);
  }

  /** @internal Write out what is queued, in one write; cut the stream when too much waits unsent. */
  flush(): void {
    this.scheduled = false;
    if (this.state !== 'open' || this.queue.length === 0) return;
    const text = this.queue.length === 1 ? this.queue[0] : this.queue.join('');
    const counters = this.transport.counters;
    counters.eventsOut += this.queue.length;
    this.queue = [];
    counters.bytesOut += text.length;
    this.res.write(text);
    this.lastWrite = Date.now();
    if (this.res.writableLength > this.transport.options.maxBufferedBytes) this.cut('unsent bytes past --max-buffered');
  }

  /** Resolves true once what is queued has mostly gone out, false after `timeoutMs` or when the stream ends. */
  private drain(timeoutMs: number): Promise<boolean> {
    this.flush();
    const low = this.transport.options.maxBufferedBytes / 4;
    if (this.res.writableLength <= low) return Promise.resolve(this.state === 'open');
    return new Promise((resolve) => {
      const socket = this.req.socket;
      const done = (ok: boolean) => {
        clearTimeout(timer);
        clearInterval(poll);
        socket.off('drain', check);
        this.drains = this.drains.filter((d) => d !== gone);
        resolve(ok);
      };
      const check = () => {
        if (this.state !== 'open') done(false);
        else if (this.res.writableLength <= low) done(true);
      };
      const gone = () => done(false);
      const timer = setTimeout(gone, timeoutMs);
      // 'drain' comes only after a write the socket refused; the poll covers the rest.
      const poll = setInterval(check, 50);
      socket.on('drain', check);
      this.drains.push(gone);
    });
  }

  /** End from the server side: a comment says why (EventSource shows none), then the stream ends and the client reconnects. */
  end(reason: string): void {
    if (this.ended) return;
    if (this.state === 'opening') return this.refuse(new HubbubError(ErrorCode.Unavailable, `${reason}: reconnect`));
    this.write(`: closing: ${reason}\n\n`);
    this.flush();
    this.res.end();
    this.dispose();
  }

  /** A reader that does not keep up: it cannot be told, only cut; a reconnect resumes from its last id. */
  private cut(why: string): void {
    if (this.ended) return;
    this.transport.counters.slowConsumersCut++;
    this.transport.handlers.log?.({ app: this.identity?.app, clientId: this.identity?.clientId, channels: this.channels.length, why }, `sse stream cut: slow consumer (${why})`);
    this.res.destroy();
    this.dispose();
  }

  /** Opening failed: a JSON error if nothing was sent yet, else the stream ends. */
  private failed(err: unknown): void {
    if (this.ended) return;
    if (!(err instanceof HubbubError)) {
      this.transport.handlers.log?.({ err: err instanceof Error ? err.message : String(err) }, 'sse stream failed');
    }
    if (this.state === 'open') {
      this.end('server error');
      return;
    }
    this.refuse(err instanceof HubbubError ? err : new HubbubError(ErrorCode.Server, 'internal server error'));
  }

  /** Answer with a coded JSON error, as the HTTP API does; an EventSource gives up on it (any status but 200). */
  refuse(err: HubbubError): void {
    this.transport.counters.refused++;
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
    if (err.statusCode === 401) headers['www-authenticate'] = 'Bearer';
    if (err.statusCode === 503) headers['retry-after'] = RETRY_AFTER_SECONDS;
    if (!this.res.headersSent && !this.res.destroyed) {
      this.res.writeHead(err.statusCode, headers);
      this.res.end(JSON.stringify({ error: err.toJSON() }));
    }
    this.dispose();
  }

  /** The stream is gone (either side): it leaves every channel and its place in the budget. */
  private dispose(): void {
    if (this.ended) return;
    this.state = 'ended';
    this.queue = [];
    this.ticket?.release();
    this.transport.forget(this);
    for (const gone of [...this.drains]) gone();
    const app = this.identity?.app;
    if (app === undefined) return;
    this.subs.forEach((sub, i) => this.transport.handlers.router.unsubscribe(channelKeyOf(app, this.channels[i]), sub));
  }
}

/** The cursor to resume from: the `Last-Event-ID` an EventSource sends, else `?lastEventId=` (a new EventSource cannot send the header). */
function lastEventIdOf(req: IncomingMessage, params: URLSearchParams): string | undefined {
  const header = req.headers['last-event-id'];
  if (typeof header === 'string' && header !== '') return header;
  return params.get('lastEventId') ?? undefined;
}

/**
 * A message's event blocks, less the blank line that ends the last one (the stream puts its `id:`
 * there first): one event per message, or per member of a batch, named after it; its data is the
 * message as JSON, which never holds a raw line break.
 */
export function eventBlocks(frame: MessageFrame): string {
  const members = frame.messages;
  if (!members || members.length === 0) return block(frame.name, payload(frame, frame.name, frame.data, frame.encoding));
  let text = '';
  members.forEach((m, i) => {
    text += block(m.name, payload(frame, m.name, m.data, m.encoding));
    if (i < members.length - 1) text += '\n';
  });
  return text;
}

function block(name: string, json: string): string {
  return `event: ${name === '' || /[\r\n]/.test(name) ? DEFAULT_EVENT : name}\ndata: ${json}\n`;
}

/** The message as SSE clients read it: channel, name, data, id (the message id), seq, clientId, timestamp. */
function payload(frame: MessageFrame, name: string, data: unknown, encoding: string | undefined): string {
  const out: Record<string, unknown> = { channel: frame.channel, name, data: data ?? null, id: frame.messageId };
  if (frame.seq !== undefined) out.seq = frame.seq;
  if (frame.clientId !== undefined) out.clientId = frame.clientId;
  out.timestamp = frame.timestamp;
  if (encoding !== undefined) out.encoding = encoding;
  if (frame.ephemeral) out.ephemeral = true;
  return JSON.stringify(out);
}
