/**
 * Every option of every command, with its environment twin, default, checks and help text: the one
 * table that drives parsing, `--help`, config checks and the docs' flag tables (scripts/docs.mjs).
 */
import { DEFAULT_LIMITS } from '../core/session-limits.js';
import { PUSHER_MAX_PRESENCE_MEMBERS } from '../compat/pusher/defaults.js';
import { HEARTBEAT_MS, MAX_BUFFERED_BYTES, MAX_CONNECTIONS, MAX_PAYLOAD_BYTES, REDIS_COMMAND_TIMEOUT_MS, REDIS_NODE_TTL_MS } from '../core/defaults.js';
import { DEFAULT_REDIS_PREFIX } from '../engine/redis.js';
import { redisUrlProblem } from '../engine/redis-url.js';
import { DEFAULT_RETENTION } from '../engine/retention.js';
import { DEFAULT_DOCUMENT_LIMITS } from '../service/documents.js';
import { formatDuration } from '../service/duration.js';
import { DEFAULT_SERVER_OPTIONS } from '../service/server-options.js';
import { DEFAULT_WEBHOOK_LIMITS } from '../service/webhooks/limits.js';
import { DEFAULT_REST_PUBLISH_BURST, DEFAULT_REST_PUBLISH_RATE, DEFAULT_REST_READ_RATE } from '../service/rest-rate-limit.js';
import { DEFAULT_MAX_PENDING_CONNECTIONS } from '../transport/admission.js';
import type { OptionSpec } from './args.js';
import { appIdProblem, namespaceHistoryProblem, notEmpty, redisPrefixProblem, urlCheck, watchTableProblem } from './option-checks.js';

/** Under the longest delay Node's timers take (2^31 - 1 ms, about 24.8 days), past which one fires at once. */
const MAX_TIMER_MS = 24 * 86_400_000;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export const KEY_FORMATS = ['hubbub', 'pusher'] as const;

export const DATA_DIR: OptionSpec = {
  name: 'data-dir',
  env: 'HUBBUB_DATA_DIR',
  type: 'string',
  default: '.hubbub',
  value: 'DIR',
  check: notEmpty,
  help: 'Where API keys, the development signing key and the SQLite store are kept (made 0700)',
};

export const SERVE: OptionSpec[] = [
  { name: 'port', env: 'PORT', type: 'number', integer: true, min: 0, max: 65535, default: DEFAULT_SERVER_OPTIONS.port, help: 'Port for WebSocket and HTTP (0 picks a free one)' },
  { name: 'host', env: 'HOST', type: 'string', default: DEFAULT_SERVER_OPTIONS.host, check: notEmpty, help: 'Interface to listen on' },
  DATA_DIR,
  { name: 'postgres', env: 'DATABASE_URL', type: 'string', value: 'URL', check: urlCheck('a PostgreSQL', 'postgres:', 'postgresql:'), help: 'Keep documents, webhook outbox and change-feed positions in PostgreSQL (unset: SQLite in the data dir)' },
  { name: 'watch-table', env: 'HUBBUB_WATCH_TABLE', type: 'list', value: 'TABLE=TOPIC', check: watchTableProblem, help: 'With --postgres: turn inserts, updates and deletes of TABLE into events on TOPIC (comma-separated for several)' },
  { name: 'watch-app', env: 'HUBBUB_WATCH_APP', type: 'string', default: 'default', value: 'APP', check: appIdProblem, help: 'App whose clients receive the table events' },
  { name: 'config', env: 'HUBBUB_CONFIG', type: 'string', value: 'FILE', help: 'JSON config file (default ./hubbub.config.json if present): any option below in camelCase, plus watchTables and webhooks; flags and env win' },
  { name: 'webhook-retry', env: 'HUBBUB_WEBHOOK_RETRY', type: 'duration', min: 1, max: MAX_TIMER_MS, default: '1s', value: 'DURATION', help: 'First webhook retry delay; doubles per attempt up to --webhook-max-delay' },
  { name: 'webhook-max-delay', env: 'HUBBUB_WEBHOOK_MAX_DELAY', type: 'duration', min: 1, max: MAX_TIMER_MS, default: '5m', value: 'DURATION', help: 'Longest wait between two webhook retries' },
  { name: 'webhook-allow-private', env: 'HUBBUB_WEBHOOK_ALLOW_PRIVATE', type: 'boolean', default: false, help: 'Let webhooks go to loopback, private and link-local addresses (refused by default, see SECURITY.md)' },
  { name: 'webhook-allow', env: 'HUBBUB_WEBHOOK_ALLOW', type: 'list', value: 'LIST', help: 'Hosts, addresses or CIDRs webhooks may reach although private (e.g. "hooks.internal,10.0.5.0/24"); narrower than --webhook-allow-private' },
  { name: 'webhook-max-queue', env: 'HUBBUB_WEBHOOK_MAX_QUEUE', type: 'number', integer: true, min: 1, default: DEFAULT_WEBHOOK_LIMITS.maxQueue, value: 'N', help: 'Webhook deliveries one app may have waiting in the outbox (one per event per endpoint); past it new events of the app are dropped, logged and counted in hubbub_webhook_events_dropped_total' },
  { name: 'webhook-max-queue-bytes', env: 'HUBBUB_WEBHOOK_MAX_QUEUE_BYTES', type: 'number', integer: true, min: 1, default: DEFAULT_WEBHOOK_LIMITS.maxQueueBytes, value: 'BYTES', help: 'Bytes of webhook bodies one app may have waiting in the outbox; past it new events are dropped like past --webhook-max-queue' },
  { name: 'webhook-max-data', env: 'HUBBUB_WEBHOOK_MAX_DATA', type: 'number', integer: true, min: 0, default: DEFAULT_WEBHOOK_LIMITS.maxMessageDataBytes, value: 'BYTES', help: 'A message.published webhook whose message data is larger (as JSON) is sent without it, with dataOmitted: true and dataBytes' },
  { name: 'redis', env: 'REDIS_URL', type: 'string', value: 'URL', check: redisUrlProblem, help: 'Scale out: share fan-out, presence, history and dedup through this Redis (redis://, rediss://) or Redis Cluster (redis+cluster://host:port,host:port…: some of its nodes; sharded pub/sub, Redis 7) (unset: in-memory engine)' },
  { name: 'redis-prefix', env: 'HUBBUB_REDIS_PREFIX', type: 'string', default: DEFAULT_REDIS_PREFIX, value: 'PREFIX', check: redisPrefixProblem, help: 'With --redis: what every key starts with, so deployments can share one Redis' },
  { name: 'redis-command-timeout', env: 'HUBBUB_REDIS_COMMAND_TIMEOUT', type: 'duration', min: 100, max: MAX_TIMER_MS, default: formatDuration(REDIS_COMMAND_TIMEOUT_MS), value: 'DURATION', help: 'With --redis: a command Redis has not answered within this long fails (50001; over HTTP 503, /readyz 503), so a stalled Redis fails publishes instead of leaving them unanswered; one that went through meanwhile is kept (a resend with the same messageId is a duplicate)' },
  { name: 'node-ttl', env: 'HUBBUB_NODE_TTL', type: 'duration', min: 1000, max: MAX_TIMER_MS, default: formatDuration(REDIS_NODE_TTL_MS), value: 'DURATION', help: 'With --redis: members held through a node silent this long leave' },
  { name: 'heartbeat', env: 'HUBBUB_HEARTBEAT', type: 'duration', min: 100, max: MAX_TIMER_MS, default: formatDuration(HEARTBEAT_MS), value: 'DURATION', help: 'Heartbeat interval; a silent peer is dropped after two, and a quiet SSE stream gets a comment line' },
  { name: 'max-payload', env: 'HUBBUB_MAX_PAYLOAD', type: 'number', integer: true, min: 1, default: MAX_PAYLOAD_BYTES, value: 'BYTES', help: 'Largest frame or HTTP body accepted' },
  { name: 'max-buffered', env: 'HUBBUB_MAX_BUFFERED', type: 'number', integer: true, min: 1, default: MAX_BUFFERED_BYTES, value: 'BYTES', help: 'Unsent bytes after which a client that stops reading is cut (close 4008; an SSE stream just ends)' },
  { name: 'max-connections', env: 'HUBBUB_MAX_CONNECTIONS', type: 'number', integer: true, min: 1, default: MAX_CONNECTIONS, value: 'N', help: 'Authenticated connections (WebSocket, SSE streams and long-poll together) past this are refused with 1013 (SSE: 503)' },
  { name: 'max-pending-connections', env: 'HUBBUB_MAX_PENDING_CONNECTIONS', type: 'number', integer: true, min: 1, default: DEFAULT_MAX_PENDING_CONNECTIONS, value: 'N', help: 'Connections not yet authenticated, beside --max-connections; past it the oldest is closed with 1013' },
  { name: 'allowed-origins', env: 'HUBBUB_ALLOWED_ORIGINS', type: 'list', value: 'LIST', help: 'Comma-separated origins allowed to open WebSockets and to call the HTTP API from a browser (CORS) (unset: any)' },
  { name: 'publish-rate', env: 'HUBBUB_PUBLISH_RATE', type: 'number', integer: true, min: 1, default: DEFAULT_LIMITS.publishRate, value: 'N', help: 'Publishes per second per connection (burst 2x); past it: 42900' },
  { name: 'rest-publish-rate', env: 'HUBBUB_REST_PUBLISH_RATE', type: 'number', integer: true, min: 1, default: DEFAULT_REST_PUBLISH_RATE, value: 'N', help: 'REST publishes per second per API key, or per app and client id for tokens (each array member counts); past it: 429 (42900) with Retry-After' },
  { name: 'rest-read-rate', env: 'HUBBUB_REST_READ_RATE', type: 'number', integer: true, min: 1, default: DEFAULT_REST_READ_RATE, value: 'N', help: 'REST history and presence reads per second per credential (burst 2x); past it: 429 (42900) with Retry-After' },
  { name: 'max-connections-per-app', env: 'HUBBUB_MAX_CONNECTIONS_PER_APP', type: 'number', integer: true, min: 1, value: 'N', help: 'Authenticated connections one app may hold, so one tenant cannot take every place of --max-connections; past it: close 1013 (unset: all of --max-connections)' },
  { name: 'rest-publish-burst', env: 'HUBBUB_REST_PUBLISH_BURST', type: 'number', integer: true, min: 1, default: DEFAULT_REST_PUBLISH_BURST, value: 'N', help: 'REST publishes one credential may make at once; an array publish larger than this is refused (41300)' },
  { name: 'max-documents-per-app', env: 'HUBBUB_MAX_DOCUMENTS_PER_APP', type: 'number', integer: true, min: 1, default: DEFAULT_DOCUMENT_LIMITS.maxPerApp, value: 'N', help: 'Sync documents one app may hold; a create past it: 42900' },
  { name: 'max-document-size', env: 'HUBBUB_MAX_DOCUMENT_SIZE', type: 'number', integer: true, min: 1, default: DEFAULT_DOCUMENT_LIMITS.maxBytes, value: 'BYTES', help: 'Largest sync document, in bytes of its JSON; past it: 41300 (the request body is also held to --max-payload)' },
  { name: 'max-subscriptions', env: 'HUBBUB_MAX_SUBSCRIPTIONS', type: 'number', integer: true, min: 1, default: DEFAULT_LIMITS.maxSubscriptions, value: 'N', help: 'Subscriptions one connection may hold: channels, presence watches and topics together; past it: 42900. Also bounds the channels of one SSE stream (at most 64)' },
  { name: 'max-presence', env: 'HUBBUB_MAX_PRESENCE', type: 'number', integer: true, min: 1, default: DEFAULT_LIMITS.maxPresenceChannels, value: 'N', help: 'Channels one connection may be present on at once; past it: 42900' },
  { name: 'presence-rate', env: 'HUBBUB_PRESENCE_RATE', type: 'number', integer: true, min: 1, default: DEFAULT_LIMITS.presenceRate, value: 'N', help: 'Presence enters and updates per second per connection (burst 2x); past it: 42900' },
  { name: 'max-input-backlog', env: 'HUBBUB_MAX_INPUT_BACKLOG', type: 'number', integer: true, min: 1, default: DEFAULT_LIMITS.inputBacklogFrames, value: 'N', help: 'Requests one connection may have waiting to be handled; past it the server stops reading its socket until a quarter is left, so TCP slows the client (nothing is refused)' },
  { name: 'max-input-backlog-bytes', env: 'HUBBUB_MAX_INPUT_BACKLOG_BYTES', type: 'number', integer: true, min: 1, default: DEFAULT_LIMITS.inputBacklogBytes, value: 'BYTES', help: 'Bytes of requests one connection may have waiting to be handled; past it, as past --max-input-backlog' },
  { name: 'max-publishes-in-flight', env: 'HUBBUB_MAX_PUBLISHES_IN_FLIGHT', type: 'number', integer: true, min: 1, default: DEFAULT_LIMITS.publishesInFlight, value: 'N', help: 'Publishes of one connection the engine may be working on at once (on Redis they share round trips); the next waits until the first is answered, nothing is refused' },
  { name: 'max-presence-data', env: 'HUBBUB_MAX_PRESENCE_DATA', type: 'number', integer: true, min: 0, default: DEFAULT_LIMITS.maxPresenceBytes, value: 'BYTES', help: 'Presence data (as JSON) plus its encoding label, per member; past it: 41300' },
  { name: 'pusher-max-presence-members', env: 'HUBBUB_PUSHER_MAX_PRESENCE_MEMBERS', type: 'number', integer: true, min: 1, default: PUSHER_MAX_PRESENCE_MEMBERS, value: 'N', help: 'Members (user ids) one presence- channel may have for Pusher clients, every node and protocol counted (Pusher: 100); past it a Pusher subscribe of a new user gets pusher:subscription_error 403. Keep N x 2 x --max-presence-data under --max-buffered' },
  { name: 'history-limit', env: 'HUBBUB_HISTORY_LIMIT', type: 'number', integer: true, min: 0, default: DEFAULT_RETENTION.historyLimit, value: 'N', help: 'Messages kept per channel for history and recovery' },
  { name: 'history-ttl', env: 'HUBBUB_HISTORY_TTL', type: 'duration', default: formatDuration(DEFAULT_RETENTION.historyTtlMs), value: 'DURATION', help: 'How long messages are kept per channel' },
  { name: 'max-history-per-app', env: 'HUBBUB_MAX_HISTORY_PER_APP', type: 'number', integer: true, min: 0, default: DEFAULT_RETENTION.maxHistoryBytesPerApp, value: 'BYTES', help: 'Bytes of history one app may keep over all its channels (memory engine); past it publishes get 42900 until history ages out' },
  { name: 'namespace-history', env: 'HUBBUB_NAMESPACE_HISTORY', type: 'list', value: 'LIST', check: namespaceHistoryProblem, help: 'Per-namespace history bounds, e.g. "chat=500/10m,ticker=10/30s"' },
  { name: 'dedup-window', env: 'HUBBUB_DEDUP_WINDOW', type: 'duration', default: formatDuration(DEFAULT_RETENTION.dedupWindowMs), value: 'DURATION', help: 'How long a messageId collapses resends' },
  { name: 'auth-grace', env: 'HUBBUB_AUTH_GRACE', type: 'duration', max: MAX_TIMER_MS, default: formatDuration(DEFAULT_LIMITS.authGraceMs), value: 'DURATION', help: 'After a token expires, time to renew before the connection closes' },
  { name: 'presence-resume', env: 'HUBBUB_PRESENCE_RESUME', type: 'duration', max: MAX_TIMER_MS, default: formatDuration(DEFAULT_LIMITS.presenceResumeMs), value: 'DURATION', help: 'How long a dropped connection of a binary-dialect client stays present for a resume with resumeConnectionId; 0: leave at once' },
  { name: 'admin-key', env: 'HUBBUB_ADMIN_KEY', type: 'string', value: 'KEY', help: 'Turn on the /admin console, protected by this key' },
  { name: 'log-level', env: 'HUBBUB_LOG_LEVEL', type: 'string', default: 'info', value: 'LEVEL', choices: LOG_LEVELS, help: 'How much to log' },
];

export const DEVTOKEN: OptionSpec[] = [
  { name: 'app', env: 'HUBBUB_APP', type: 'string', check: appIdProblem, help: 'App (tenant) the token is for (required)' },
  { name: 'client', env: 'HUBBUB_CLIENT', type: 'string', help: 'Client id, the token subject (required)' },
  { name: 'ttl', env: 'HUBBUB_TOKEN_TTL', type: 'duration', min: 0, default: '1h', value: 'DURATION', help: 'Lifetime, e.g. 90s, 15m, 1h, 7d (0s mints a token that has already expired, for testing renewal)' },
  { name: 'capability', env: 'HUBBUB_CAPABILITY', type: 'string', value: 'JSON', help: 'Channel pattern to operations, e.g. \'{"chat:*":["subscribe","publish"]}\'' },
  DATA_DIR,
];

export const KEYS: OptionSpec[] = [
  { name: 'app', env: 'HUBBUB_APP', type: 'string', check: appIdProblem, help: 'App the key belongs to (keys create)' },
  { name: 'capability', env: 'HUBBUB_CAPABILITY', type: 'string', value: 'JSON', help: 'Limit the key (and tokens it mints) to these channels and operations' },
  { name: 'format', env: 'HUBBUB_KEY_FORMAT', type: 'string', default: 'hubbub', value: 'FORMAT', choices: KEY_FORMATS, help: 'How keys create prints the key: APP.KEYID:SECRET (hubbub), or PUSHER_APP_ID, PUSHER_APP_KEY and PUSHER_APP_SECRET lines for a Pusher or Laravel app\'s .env (pusher). Only a key made with pusher opens Pusher connections (/app/KEYID), and its key id is public' },
  DATA_DIR,
];
