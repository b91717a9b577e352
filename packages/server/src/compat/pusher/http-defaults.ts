import { CloseCode } from '../../core/close-codes.js';

/**
 * The Pusher HTTP API's limits, as Pusher's own service sets them on its standard plans, so a backend
 * that works against Pusher works here unchanged and one that would be refused there is refused here.
 * None has a flag: a larger limit would let a backend write code that then fails on Pusher, and a
 * Hubbub backend that needs more uses Hubbub's REST API (held to --max-payload instead).
 */
const KiB = 1024;

/** A request's `auth_timestamp` may be this far from the server's clock, either way (Pusher: 600 s). */
export const PUSHER_TIMESTAMP_WINDOW_S = 600;

/** Bytes of `data` in one event (Pusher: 10 KB); past it the request is answered 413. */
export const PUSHER_MAX_EVENT_DATA_BYTES = 10 * KiB;

/** Events in one `batch_events` request (Pusher: 10); past it, 413. */
export const PUSHER_MAX_BATCH_EVENTS = 10;

/** Channels one event names (Pusher: 100); past it, 400. */
export const PUSHER_MAX_EVENT_CHANNELS = 100;

/** Longest event name (Pusher: 200 characters). */
export const PUSHER_MAX_EVENT_NAME_LENGTH = 200;

/**
 * Largest request body read at all: the biggest valid batch (10 events of 10 KB data, each naming
 * channels, written out as JSON with escapes) fits well inside it. Past it, 413 before reading on.
 */
export const PUSHER_MAX_BODY_BYTES = 512 * KiB;

/**
 * Close code for connections ended by `terminate_connections`. Pusher only says the connections end
 * and that the user may come back: 4300 (Hubbub's Forbidden, class stop) keeps Hubbub's SDK from
 * reconnecting at once; a Pusher connection reads it as 4009, Pusher's do-not-reconnect class
 * (protocol.ts), so pusher-js does not come straight back and sign in again.
 */
export const PUSHER_TERMINATED_CLOSE_CODE = CloseCode.Forbidden;
