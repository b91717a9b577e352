/**
 * Every default of @hubbub/server that more than one module (or the CLI's flag table) needs, once, with
 * its unit in its name. A default used by one module only stays beside it, named in upper case.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** `hubbub serve`: the client should send something this often; advertised in `connected`. */
export const HEARTBEAT_MS = 15_000;

/**
 * `ChannelHub`/`HubSocketServer` and `createRealtime` ping every 30 s: their seed APIs documented it so,
 * and an embedding application may tune its proxies to it.
 */
export const EMBED_HEARTBEAT_MS = 30_000;

/** With the Redis engine: members held through a node silent this long leave. */
export const REDIS_NODE_TTL_MS = 15_000;
/**
 * How long a publish's answer waits for its message to be delivered to this node's own subscribers
 * on Redis (it comes back by pub/sub); past it (the subscriber link is away, catch-up delivers later)
 * the publish is answered anyway.
 */
export const REDIS_DELIVERY_WAIT_MS = 1_000;
/**
 * With the Redis engine: a command Redis has not answered within this long fails (50001, over HTTP a
 * 503), so a Redis that is stalled but still holds its connections open (stopped, swapping, behind a
 * proxy that lost its peer) fails publishes and /readyz instead of leaving them unanswered.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5_000;

/** A WebSocket message (one frame, or a batch) over this size is refused. */
export const MAX_PAYLOAD_BYTES = 64 * KiB;

/** Bytes a connection may have queued unsent before it is cut as a slow consumer. */
export const MAX_BUFFERED_BYTES = 4 * MiB;

/** Open connections of every transport together, per node. */
export const MAX_CONNECTIONS = 10_000;

/** How long a slow reader may take to drain a catch-up or a burst of replies before it is cut. */
export const REPLAY_DRAIN_TIMEOUT_MS = 30_000;

/** Requests answered one by one (41300) in an oversized message; more closes it (1009). */
export const MAX_OVERSIZE_REFUSALS = 64;

/** Messages a client may send behind its auth frame before that frame is answered. */
export const MAX_FRAMES_BEHIND_AUTH = 32;

/** Frames one message may carry (a batch publish of many members is one frame); more closes the connection. */
export const MAX_FRAMES_PER_MESSAGE = 512;

/**
 * Requests read from one connection and not yet handled, past which its transport stops reading it
 * (TCP then slows the client, its acks pace it); reading resumes once a quarter of either is left.
 * Frames, and bytes of the messages that carried them (characters, for text).
 */
export const MAX_INPUT_BACKLOG_FRAMES = 256;
export const MAX_INPUT_BACKLOG_BYTES = 1 * MiB;

/**
 * Publishes of one connection the engine may be working on at once (begun, not yet answered). On
 * Redis they share round trips up to this many; past it the next waits for the first to be answered,
 * so one flooding connection fills at most this much of a batch call and of the node's memory, and a
 * neighbour's publish does not queue behind hundreds of its.
 */
export const MAX_PUBLISHES_IN_FLIGHT = 64;
