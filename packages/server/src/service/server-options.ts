import { join } from 'node:path';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { DEFAULT_LIMITS, type SessionLimits } from '../core/session-limits.js';
import type { RetentionOptions } from '../engine/retention.js';
import type { Engine } from '../core/engine.js';
import type { Logger } from 'pino';
import { DEFAULT_REST_PUBLISH_BURST, DEFAULT_REST_PUBLISH_RATE, DEFAULT_REST_READ_RATE } from './rest-rate-limit.js';
import { DEFAULT_DOCUMENT_LIMITS } from './documents.js';
import type { WatchedTable } from './change-feed.js';
import type { WebhookEndpoint } from './webhooks/dispatcher.js';
import { bindWebhookKeys } from './webhooks/endpoint-keys.js';
import type { Store } from './store/store.js';
import { HEARTBEAT_MS, MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_PAYLOAD_BYTES } from '../core/defaults.js';

export interface ServerOptions {
  port: number;
  host: string;
  /** Where API keys (and the development signing key) are kept. */
  dataDir: string;
  /** HS256 secret for JWTs; without it a development key is kept in the data dir. */
  signingKey?: string;
  heartbeatMs: number;
  maxPayloadBytes: number;
  /** Authenticated connections at once: WebSockets, long-poll sessions and SSE streams together. */
  maxConnections: number;
  /** Connections not yet authenticated, at once (default `DEFAULT_MAX_PENDING_CONNECTIONS`); past it the oldest is closed. */
  maxPendingConnections?: number;
  maxBufferedBytes: number;
  /** Distinct members of one presence channel a Pusher client may join (default PUSHER_MAX_PRESENCE_MEMBERS). */
  pusherMaxPresenceMembers?: number;
  /** When set, WebSocket upgrades and CORS answer only these origins (else CORS allows any: `*`). */
  allowedOrigins?: string[];
  /** Turns on `/admin`; the page and its stream need this key. */
  adminKey?: string;
  /** Longest lifetime of a token minted by `POST /auth/token` or `POST /keys/{name}/requestToken`. */
  maxTokenTtlMs: number;
  /** REST publishes per second per credential (an API key; a token's app and client id), and how many at once. */
  restPublishRate: number;
  restPublishBurst: number;
  /** REST history and presence reads per second per credential (burst 2x). */
  restReadRate: number;
  /** An HTTP socket silent both ways this long is closed (default 30 s). */
  httpIdleTimeoutMs?: number;
  /** Authenticated connections one app may hold (of --max-connections); unset: all of them. */
  maxConnectionsPerApp?: number;
  /** Most sync documents one app holds, and the largest one in bytes of JSON. */
  maxDocumentsPerApp: number;
  maxDocumentBytes: number;
  limits: Partial<SessionLimits>;
  retention: Partial<RetentionOptions>;
  /** Defaults to the embedded MemoryEngine. */
  engine?: Engine;
  /** PostgreSQL URL for durable data; without it, SQLite in the data dir. */
  postgres?: string;
  /** A store to use instead of opening one. */
  store?: Store;
  /** Tables whose changes become events (needs `postgres`), and the app whose clients see them. */
  watchTables?: WatchedTable[];
  watchApp?: string;
  /** Per-app webhook endpoints. One that names an API key (`key`) must name an active key of its app in `dataDir`. */
  webhooks?: WebhookEndpoint[];
  /** First webhook retry delay (doubles per attempt), and the longest wait between retries. */
  webhookRetryMs?: number;
  webhookMaxDelayMs?: number;
  /** Let webhooks go to loopback, private and link-local addresses (refused by default: see SECURITY.md). */
  webhookAllowPrivate?: boolean;
  /** Exceptions while private addresses stay refused: host names, addresses, CIDRs (`10.1.0.0/16`). */
  webhookAllowedDestinations?: string[];
  /** Webhook outbox bound per app: items and payload bytes (DEFAULT_WEBHOOK_LIMITS); past it new events are dropped. */
  webhookMaxQueue?: number;
  webhookMaxQueueBytes?: number;
  /** A `message.published` webhook whose message data is larger (as JSON) is sent without it. */
  webhookMaxDataBytes?: number;
  logger?: Logger;
}

/** An HTTP socket with no bytes either way for this long is closed (a held long poll answers sooner). */
export const HTTP_IDLE_TIMEOUT_MS = 30_000;

/** A request's headers must have arrived by then, the whole request by the next (SECURITY.md: 408 past them). */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;

export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  port: 3000,
  host: '0.0.0.0',
  dataDir: '.hubbub',
  heartbeatMs: HEARTBEAT_MS,
  maxPayloadBytes: MAX_PAYLOAD_BYTES,
  maxConnections: MAX_CONNECTIONS,
  maxBufferedBytes: MAX_BUFFERED_BYTES,
  maxTokenTtlMs: 24 * 3_600_000,
  restPublishRate: DEFAULT_REST_PUBLISH_RATE,
  restPublishBurst: DEFAULT_REST_PUBLISH_BURST,
  restReadRate: DEFAULT_REST_READ_RATE,
  maxDocumentsPerApp: DEFAULT_DOCUMENT_LIMITS.maxPerApp,
  maxDocumentBytes: DEFAULT_DOCUMENT_LIMITS.maxBytes,
  limits: {},
  retention: {},
};

/** The options `start` runs with: the defaults under what was given, refused before anything opens when they cannot work together. */
export function resolveServerOptions(partial: Partial<ServerOptions>): ServerOptions {
  const options = { ...DEFAULT_SERVER_OPTIONS, ...partial };
  options.maxConnectionsPerApp ??= options.maxConnections;
  if (options.watchTables?.length && !options.postgres) {
    throw new HubbubError(ErrorCode.Bootstrap, '--watch-table needs --postgres: the change feed reads PostgreSQL (pass --postgres URL / DATABASE_URL, or drop --watch-table)');
  }
  if (options.webhooks) options.webhooks = bindWebhookKeys(options.webhooks, join(options.dataDir, 'keys.json'));
  return options;
}

/** Each session's limits: the defaults, then the heartbeat and frame size the flags set, then any limit given outright. */
export function sessionLimitsOf(options: ServerOptions): SessionLimits {
  return { ...DEFAULT_LIMITS, keepAliveMs: options.heartbeatMs, maxFrameBytes: options.maxPayloadBytes, ...options.limits };
}
