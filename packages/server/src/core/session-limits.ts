import { HEARTBEAT_MS, MAX_INPUT_BACKLOG_BYTES, MAX_INPUT_BACKLOG_FRAMES, MAX_PAYLOAD_BYTES, MAX_PUBLISHES_IN_FLIGHT } from './defaults.js';

/** What one connection may make the server hold or do; every bound has a flag (docs/server.md). */
export interface SessionLimits {
  /** The client should send something at least this often; advertised in `connected`. */
  keepAliveMs: number;
  /** Close connections that have not authenticated by then. */
  authTimeoutMs: number;
  /** After the token expires, how long the client has to send a fresh one. */
  authGraceMs: number;
  /** Publishes per second per connection (sustained), and the burst allowed. */
  publishRate: number;
  publishBurst: number;
  /** Subscriptions one connection may hold: channels, presence watches and topics together. */
  maxSubscriptions: number;
  /** Presence data, serialized, plus its `encoding` label, in bytes. */
  maxPresenceBytes: number;
  /** Channels one connection may be present on at once. */
  maxPresenceChannels: number;
  /** Presence enters and updates per second per connection (sustained), and the burst allowed. */
  presenceRate: number;
  presenceBurst: number;
  /** Most messages one history page returns. */
  maxHistoryPage: number;
  /** Most bytes of messages one history page or replay burst puts in the socket before waiting for it to drain. */
  maxReplayChunkBytes: number;
  /** A binary message over this many bytes is refused (41300) record by record; the connection stays. */
  maxFrameBytes: number;
  /** The first frame (the auth frame) may be at most this big; a bigger one closes the connection. */
  maxAuthFrameBytes: number;
  /**
   * How long the presence of a connection that dropped (not closed cleanly) is kept for it to
   * resume with `resumeConnectionId`; a quick reconnect then causes no leave/enter churn.
   */
  presenceResumeMs: number;
  /**
   * Requests read and not yet handled (frames, and bytes of their messages) past which the
   * connection is no longer read until a quarter of either is left: backpressure through TCP
   * (or a held long-poll send) rather than a queue that grows with what a client writes.
   */
  inputBacklogFrames: number;
  inputBacklogBytes: number;
  /** Publishes begun and not yet answered, past which the next waits for the first to be answered. */
  publishesInFlight: number;
}

export const DEFAULT_LIMITS: SessionLimits = {
  keepAliveMs: HEARTBEAT_MS,
  authTimeoutMs: 10_000,
  authGraceMs: 15_000,
  publishRate: 50,
  publishBurst: 100,
  maxSubscriptions: 500,
  maxPresenceBytes: 4096,
  maxPresenceChannels: 100,
  presenceRate: 10,
  presenceBurst: 20,
  maxHistoryPage: 1000,
  maxReplayChunkBytes: 256 * 1024,
  maxFrameBytes: MAX_PAYLOAD_BYTES,
  maxAuthFrameBytes: 32 * 1024,
  presenceResumeMs: 5_000,
  inputBacklogFrames: MAX_INPUT_BACKLOG_FRAMES,
  inputBacklogBytes: MAX_INPUT_BACKLOG_BYTES,
  publishesInFlight: MAX_PUBLISHES_IN_FLIGHT,
};
