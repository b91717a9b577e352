import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, HubbubError, type MessageFrame } from '@hubbub/protocol';
import type { Identity } from '../core/identity.js';
import type { Outbound } from '../core/outbound.js';
import { MAX_SSE_CHANNELS } from './sse-cursor.js';
import { eventBlocks } from './sse-framing.js';
import { startSweeps } from './sse-heartbeat.js';
import { newSseCounters, type SseCounters, type SseHandlers, type SseTransportOptions } from './sse-options.js';
import { streamQuery } from './sse-request.js';
import { SseStream } from './sse-stream.js';
import { FlushScheduler } from './sse-writer.js';

export type { SseCounters, SseHandlers, SseTransportOptions } from './sse-options.js';
export { eventBlocks } from './sse-framing.js';

/**
 * Server-Sent Events for `hubbub serve`: `GET /sse?channel=A&channel=B` opens a one-way stream of the
 * channels' messages, for an `EventSource` in a browser or any HTTP client. Each message is an event
 * named after it, whose data is the message as JSON and whose `id:` is a cursor over every channel of
 * the stream (sse-cursor.ts); a reconnect with `Last-Event-ID` catches up on each channel from there,
 * exactly as a WebSocket `sub` with `lastSerial` does, on whichever node it reaches. The stream holds a
 * connection's place in the budget shared with the other transports.
 *
 * Here: the streams of one server, their shared flush and sweep, shutdown and revocation. What a
 * request asks for is read in sse-request.ts, one stream's life (admission, catch-up, live messages)
 * is sse-stream.ts, its writes sse-writer.ts, its text sse-framing.ts, heartbeats sse-heartbeat.ts.
 */

/**
 * Serves `GET {path}`. Writes are queued per stream and flushed after the callback that produced them,
 * one write per stream per turn; a message fanned out to many streams is encoded once.
 */
export class SseTransport {
  private readonly streams = new Set<SseStream>();
  /** @internal The streams with writes queued, flushed together. */
  readonly flushes = new FlushScheduler();
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  /** Counters for metrics: streams opened and refused, events and bytes written, slow readers cut (see `SseCounters`). */
  readonly counters: SseCounters = newSseCounters();
  readonly maxChannels: number;

  constructor(
    readonly options: SseTransportOptions,
    readonly handlers: SseHandlers,
  ) {
    this.maxChannels = Math.min(options.maxChannels, MAX_SSE_CHANNELS);
    this.sweepTimer = startSweeps(this.streams, options);
  }

  /** Streams open now, and those still opening (their token being checked, their channels subscribed). */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Take the request if it is for the stream path; false leaves it to the caller. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const query = streamQuery(req.url, this.options.path);
    if (!query) return false;
    const stream = new SseStream(this, req, res);
    if (req.method !== 'GET') {
      res.setHeader('allow', 'GET');
      stream.refuse(new HubbubError(ErrorCode.MethodNotAllowed, `${req.method} is not allowed on ${this.options.path}: open it with GET`));
      return true;
    }
    if (this.closed) {
      stream.refuse(new HubbubError(ErrorCode.Unavailable, 'server shutting down: reconnect'));
      return true;
    }
    this.streams.add(stream);
    void stream.open(query);
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
  forget(stream: SseStream): void {
    this.streams.delete(stream);
  }
}
