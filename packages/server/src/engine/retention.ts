/** How long and how much of each channel's past an engine keeps. */

/** How much of a channel's past is kept. */
export interface RetentionOptions {
  /** Most messages kept per channel. */
  historyLimit: number;
  /** Oldest message kept, in ms. */
  historyTtlMs: number;
  /** How long a publish's messageId is remembered to collapse resends, in ms. */
  dedupWindowMs: number;
  /** Overrides per namespace (the part of a channel name before its first `:`). */
  namespaces?: Record<string, NamespaceRetention>;
  /**
   * Bytes of history one app may keep across all its channels (memory engine; each channel also counts
   * a fixed overhead). Past it publishes are refused with 42900 until history ages out. The Redis engine
   * bounds history per channel (MAXLEN, TTL) and leaves the rest to Redis's maxmemory.
   */
  maxHistoryBytesPerApp?: number;
}

export interface NamespaceRetention {
  historyLimit?: number;
  historyTtlMs?: number;
}

/** History bounds for one channel: its namespace's, else the defaults. */
export function retentionFor(retention: RetentionOptions, channelKey: string): { historyLimit: number; historyTtlMs: number } {
  const channel = channelKey.slice(channelKey.indexOf('/') + 1);
  const colon = channel.indexOf(':');
  const own = colon > 0 ? retention.namespaces?.[channel.slice(0, colon)] : undefined;
  return {
    historyLimit: own?.historyLimit ?? retention.historyLimit,
    historyTtlMs: own?.historyTtlMs ?? retention.historyTtlMs,
  };
}

export const DEFAULT_RETENTION: RetentionOptions = {
  historyLimit: 100,
  historyTtlMs: 120_000,
  dedupWindowMs: 120_000,
  maxHistoryBytesPerApp: 256 * 1024 * 1024,
};
