/**
 * How much the webhook outbox may hold, and how big one event may get: the defaults behind
 * `--webhook-max-queue`, `--webhook-max-queue-bytes` and `--webhook-max-data`.
 */
export const DEFAULT_WEBHOOK_LIMITS = {
  /**
   * Outbox items (one per event per endpoint) one app may have waiting. Past it, or past
   * `maxQueueBytes`, new events of the app are dropped: their publishes were acked long ago.
   */
  maxQueue: 100_000,
  /** UTF-8 bytes of the payloads of those items: what bounds the store's disk use. */
  maxQueueBytes: 256 * 1024 * 1024,
  /**
   * A `message.published` event whose message data (as JSON) is larger is sent without it, flagged
   * `dataOmitted`. The same as the default --max-payload, so by default no publish is cut.
   */
  maxMessageDataBytes: 64 * 1024,
} as const;

export type WebhookLimits = { -readonly [K in keyof typeof DEFAULT_WEBHOOK_LIMITS]: number };
