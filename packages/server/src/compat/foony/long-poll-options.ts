import { DEFAULT_LIMITS } from '../../core/session-limits.js';
import type { Admission } from '../../transport/admission.js';
import { pendingMessageBound } from '../../transport/admission.js';
import { MAX_BUFFERED_BYTES } from '../../core/defaults.js';

export interface LongPollOptions {
  /** Path prefixes to serve `/lp/*` under. The SDK derives `http://h/p/lp/…` from `ws://h/p`. */
  prefixes: string[];
  /** Largest `send` or `poll` body accepted (413 above it, unread). */
  maxBodyBytes: number;
  /** Largest `connect` body (the `auth` record) accepted (413 above it, unread). */
  maxConnectBodyBytes: number;
  /** How long a poll is held with nothing to send; must stay under the SDK's 40 s request timeout. */
  pollHoldMs: number;
  /** A session with no poll open or arriving for this long is expired, like a dropped socket. */
  sessionIdleMs: number;
  /** Unpolled bytes past which a session is a slow consumer and is ended. */
  maxQueuedBytes: number;
  /** When set, requests from other origins get 403 (requests without `Origin` pass, as on ws). */
  allowedOrigins?: string[];
  /**
   * The budget shared with the other transports: a session is pending until its session calls
   * `wire.authenticated()`, and a connect whose auth succeeds with every place taken is answered
   * with `err` 50300. Unset: no limit.
   */
  admission?: Admission;
}

export const LONG_POLL_DEFAULTS: LongPollOptions = {
  prefixes: ['', '/ws'],
  maxBodyBytes: 1024 * 1024,
  maxConnectBodyBytes: pendingMessageBound(DEFAULT_LIMITS.maxAuthFrameBytes),
  pollHoldMs: 25_000,
  sessionIdleMs: 60_000,
  maxQueuedBytes: MAX_BUFFERED_BYTES,
};

/** The header that carries a session's token after connect; browsers must be let to read and send it. */
export const SESSION_HEADER = 'foony-lp-session';
