/** Every timing and count default of the SDK, once. */
export const DEFAULTS = {
  endpoint: 'ws://localhost:3000',
  /** First reconnect delay; doubles per attempt up to the cap. */
  reconnectDelayMs: 1000,
  reconnectMaxDelayMs: 30_000,
  /** Each backoff delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  reconnectJitter: 0.2,
  /** `RealtimeClient` gives up (state `disconnected`) after this many attempts in a row. */
  realtimeClientReconnectionAttempts: 10,
  /** A channel whose attach the server could not serve for now (50001: its engine unreachable) asks again after this. */
  reattachDelayMs: 1000,
  /** A socket that has not reached `connected` by then is given up and retried with backoff. */
  connectTimeoutMs: 15_000,
  /** Renewals in a row that may fail (refused token, failing authCallback) before the connection fails. */
  maxRenewals: 3,
  /** Renew a token this long before it expires (at most a tenth of its life). */
  renewBeforeExpiryMs: 30_000,
  /** Never renew sooner than this after the last token (a callback handing out tokens of milliseconds). */
  minRenewIntervalMs: 1000,
  /** A connection up this long resets the counts of reconnect attempts and renewals. */
  stableConnectionMs: 10_000,
  /** Recent event ids `RealtimeClient` remembers to drop a replay overlapping live delivery. */
  seenEventIds: 2000,
  /** Presence tombstones a channel keeps between syncs, to drop late events for members that left. */
  presenceTombstones: 1000,
} as const;
