import type { IncomingMessage } from 'node:http';
import type { Engine } from '../core/engine.js';
import type { Identity } from '../core/identity.js';
import type { Router } from '../core/router.js';
import type { Admission } from './admission.js';

/** What `SseTransport` is built with, and what it counts: shared by the transport and its streams. */

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

/**
 * Counters for metrics, only ever incremented (read them at scrape time). Streams open now are not a
 * counter: `SseTransport.streamCount`.
 */
export interface SseCounters {
  /** Streams that got their 200 and went live. */
  streamsOpened: number;
  /** Requests answered with a JSON error instead of a stream (bad request, no credential, full server, shutting down). */
  refused: number;
  /**
   * Pieces of stream text written: one per message (a batch counts once), plus the opening `retry:`
   * block, id-only blocks, discontinuities, heartbeats and closing comments.
   */
  eventsOut: number;
  /** Length of the text written, in UTF-16 code units (equal to bytes for ASCII). */
  bytesOut: number;
  /** Streams cut for not reading (unsent bytes past --max-buffered, a catch-up not read in time). */
  slowConsumersCut: number;
}

export function newSseCounters(): SseCounters {
  return { streamsOpened: 0, refused: 0, eventsOut: 0, bytesOut: 0, slowConsumersCut: 0 };
}
