import { CloseCode } from '../../core/close-codes.js';

/**
 * The Pusher dialect's limits. Those Pusher itself sets (its HTTP API's, client events, user ids) are
 * Pusher's values, so a backend or client that works against Pusher works here unchanged and one that
 * would be refused there is refused here. None but the presence cap has a flag: a larger limit would let
 * an app write code that then fails on Pusher; what a connection may hold beyond these (subscriptions,
 * presence data, payload) is held to Hubbub's own flags (--max-subscriptions, --max-presence-data,
 * --max-payload).
 */
const KiB = 1024;

/** A request's `auth_timestamp` may be this far from the server's clock, either way (Pusher: 600 s). */
export const PUSHER_TIMESTAMP_WINDOW_S = 600;

/**
 * Bytes of `data` in one event (Pusher: 10 KB): past it an HTTP API request is answered 413, and a
 * client event (its `data` as the JSON text the client sent) gets `pusher:error` and goes nowhere.
 */
export const PUSHER_MAX_EVENT_DATA_BYTES = 10 * KiB;

/** Events in one `batch_events` request (Pusher: 10); past it, 413. */
export const PUSHER_MAX_BATCH_EVENTS = 10;

/** Channels one event names (Pusher: 100); past it, 400. */
export const PUSHER_MAX_EVENT_CHANNELS = 100;

/** Longest event name, from the HTTP API or a client event (Pusher: 200 characters). */
export const PUSHER_MAX_EVENT_NAME_LENGTH = 200;

/**
 * Members (distinct user ids, every protocol's, on every node) of one presence channel (Pusher: 100;
 * `--pusher-max-presence-members`). Past it a Pusher subscribe of a new user is refused; the member
 * list a joiner is sent stays near this many times `--max-presence-data` (about 0.9 MB at the
 * defaults, under `--max-buffered`'s 4 MiB), and each arrival goes to at most this many members.
 */
export const PUSHER_MAX_PRESENCE_MEMBERS = 100;

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

/** Client events a connection may send per second (Pusher: 10); past it, `pusher:error` 4301. */
export const PUSHER_CLIENT_EVENT_RATE = 10;

/** Presence changes kept while a presence subscription reads its member list; past it, the subscriber is cut. */
export const PUSHER_MAX_EARLY_PRESENCE = 1_000;

/** Longest presence `user_id` or signed-in user id (Pusher: 128 characters). */
export const PUSHER_MAX_USER_ID_LENGTH = 128;
