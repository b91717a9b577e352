#!/usr/bin/env node
import { join } from 'node:path';
import { parseCapability } from '@hubbub/protocol';
import { HubbubServer } from '../service/server.js';
import { MemoryEngine } from '../engine/memory.js';
import { RedisEngine } from '../engine/redis.js';
import type { NamespaceRetention } from '../engine/engine.js';
import { parseWatchTable } from '../service/change-feed.js';
import { ConfigError, loadConfig, type ConfigFile } from '../service/config-file.js';
import { HubbubError } from '@hubbub/protocol';
import { createLogger } from '../service/logger.js';
import { existsSync } from 'node:fs';
import { KeyStore } from '../service/keys.js';
import { TokenAuthority } from '../service/tokens.js';
import { resolveSigningKey } from '../service/signing-key.js';
import { parseDuration } from '../service/duration.js';
import { UsageError, helpText, parseArgs, type OptionSpec } from './args.js';

const DATA_DIR: OptionSpec = {
  name: 'data-dir',
  env: 'HUBBUB_DATA_DIR',
  type: 'string',
  default: '.hubbub',
  value: 'DIR',
  help: 'Where API keys and the development signing key are kept',
};

const SERVE: OptionSpec[] = [
  { name: 'port', env: 'PORT', type: 'number', default: 3000, help: 'Port for WebSocket and HTTP (0 picks a free one)' },
  { name: 'host', env: 'HOST', type: 'string', default: '0.0.0.0', help: 'Interface to listen on' },
  DATA_DIR,
  { name: 'postgres', env: 'DATABASE_URL', type: 'string', value: 'URL', help: 'Keep documents, webhook outbox and change-feed positions in PostgreSQL (unset: SQLite in the data dir)' },
  { name: 'watch-table', env: 'HUBBUB_WATCH_TABLE', type: 'list', value: 'TABLE=TOPIC', help: 'With --postgres: turn inserts, updates and deletes of TABLE into events on TOPIC (comma-separated for several)' },
  { name: 'watch-app', env: 'HUBBUB_WATCH_APP', type: 'string', default: 'default', value: 'APP', help: 'App whose clients receive the table events' },
  { name: 'config', env: 'HUBBUB_CONFIG', type: 'string', value: 'FILE', help: 'JSON config file (default ./hubbub.config.json if present): any option below in camelCase, plus watchTables and webhooks; flags and env win' },
  { name: 'webhook-retry', env: 'HUBBUB_WEBHOOK_RETRY', type: 'string', default: '1s', value: 'DURATION', help: 'First webhook retry delay; doubles per attempt up to 5m' },
  { name: 'webhook-max-delay', env: 'HUBBUB_WEBHOOK_MAX_DELAY', type: 'string', default: '5m', value: 'DURATION', help: 'Longest wait between two webhook retries' },
  { name: 'redis', env: 'REDIS_URL', type: 'string', value: 'URL', help: 'Scale out: share fan-out, presence, history and dedup through this Redis (unset: in-memory engine)' },
  { name: 'node-ttl', env: 'HUBBUB_NODE_TTL', type: 'string', default: '15s', value: 'DURATION', help: 'With --redis: members held through a node silent this long leave' },
  { name: 'heartbeat', env: 'HUBBUB_HEARTBEAT', type: 'string', default: '15s', value: 'DURATION', help: 'Heartbeat interval; a silent peer is dropped after two' },
  { name: 'max-payload', env: 'HUBBUB_MAX_PAYLOAD', type: 'number', default: 65536, value: 'BYTES', help: 'Largest frame or HTTP body accepted' },
  { name: 'max-buffered', env: 'HUBBUB_MAX_BUFFERED', type: 'number', default: 4194304, value: 'BYTES', help: 'Unsent bytes after which a client that stops reading is cut (close 4008)' },
  { name: 'max-connections', env: 'HUBBUB_MAX_CONNECTIONS', type: 'number', default: 10000, help: 'Connections past this are refused with 1013' },
  { name: 'allowed-origins', env: 'HUBBUB_ALLOWED_ORIGINS', type: 'list', value: 'LIST', help: 'Comma-separated origins allowed to open WebSockets and to call the HTTP API from a browser (CORS) (unset: any)' },
  { name: 'publish-rate', env: 'HUBBUB_PUBLISH_RATE', type: 'number', default: 50, value: 'N', help: 'Publishes per second per connection (burst 2x); past it: 42900' },
  { name: 'max-subscriptions', env: 'HUBBUB_MAX_SUBSCRIPTIONS', type: 'number', default: 500, value: 'N', help: 'Channels one connection may subscribe to' },
  { name: 'history-limit', env: 'HUBBUB_HISTORY_LIMIT', type: 'number', default: 100, value: 'N', help: 'Messages kept per channel for history and recovery' },
  { name: 'history-ttl', env: 'HUBBUB_HISTORY_TTL', type: 'string', default: '2m', value: 'DURATION', help: 'How long messages are kept per channel' },
  { name: 'namespace-history', env: 'HUBBUB_NAMESPACE_HISTORY', type: 'list', value: 'LIST', help: 'Per-namespace history bounds, e.g. "chat=500/10m,ticker=10/30s"' },
  { name: 'dedup-window', env: 'HUBBUB_DEDUP_WINDOW', type: 'string', default: '2m', value: 'DURATION', help: 'How long a messageId collapses resends' },
  { name: 'auth-grace', env: 'HUBBUB_AUTH_GRACE', type: 'string', default: '15s', value: 'DURATION', help: 'After a token expires, time to renew before the connection closes' },
  { name: 'presence-resume', env: 'HUBBUB_PRESENCE_RESUME', type: 'string', default: '5s', value: 'DURATION', help: 'How long a dropped Foony (binary) connection stays present for a resume with resumeConnectionId; 0: leave at once' },
  { name: 'admin-key', env: 'HUBBUB_ADMIN_KEY', type: 'string', value: 'KEY', help: 'Turn on the /admin console, protected by this key' },
  { name: 'log-level', env: 'HUBBUB_LOG_LEVEL', type: 'string', default: 'info', value: 'LEVEL', help: 'fatal, error, warn, info, debug or trace' },
];

const DEVTOKEN: OptionSpec[] = [
  { name: 'app', env: 'HUBBUB_APP', type: 'string', help: 'App (tenant) the token is for (required)' },
  { name: 'client', env: 'HUBBUB_CLIENT', type: 'string', help: 'Client id, the token subject (required)' },
  { name: 'ttl', env: 'HUBBUB_TOKEN_TTL', type: 'string', default: '1h', value: 'DURATION', help: 'Lifetime, e.g. 90s, 15m, 1h, 7d' },
  { name: 'capability', env: 'HUBBUB_CAPABILITY', type: 'string', value: 'JSON', help: 'Channel pattern to operations, e.g. \'{"chat:*":["subscribe","publish"]}\'' },
  DATA_DIR,
];

const KEYS: OptionSpec[] = [
  { name: 'app', env: 'HUBBUB_APP', type: 'string', help: 'App the key belongs to (keys create)' },
  { name: 'capability', env: 'HUBBUB_CAPABILITY', type: 'string', value: 'JSON', help: 'Limit the key (and tokens it mints) to these channels and operations' },
  DATA_DIR,
];

const MAIN_HELP = `Usage: hubbub <command> [options]

Commands:
  serve                 Run the server (WebSocket + HTTP API on one port)
  devtoken              Print a JWT signed with JWT_SIGNING_KEY (or the dev key in the data dir)
  keys create|list|revoke
                        Manage API keys kept in the data dir
  config check FILE     Validate a hubbub.config.json

Environment:
  JWT_SIGNING_KEY       HS256 secret for tokens. Unset: a development key is made in the data dir.

Run 'hubbub <command> --help' for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  switch (command) {
    case 'serve':
      if (wantsHelp) return print(helpText('hubbub serve [options]', 'Run the Hubbub server.', SERVE));
      return serve(rest);
    case 'devtoken':
      if (wantsHelp) return print(helpText('hubbub devtoken --app APP --client ID [options]', 'Print a signed development token.', DEVTOKEN));
      return devtoken(rest);
    case 'config':
      if (wantsHelp) return print('Usage: hubbub config check FILE\n\nValidate a hubbub.config.json: every key, its type and its form.\n');
      return configCommand(rest);
    case 'keys':
      if (wantsHelp) return print(helpText('hubbub keys create --app APP | keys list | keys revoke APP.KEYID', 'Manage API keys.', KEYS));
      return keys(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return print(MAIN_HELP);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function serve(argv: string[]): Promise<number> {
  const first = parseArgs(argv, SERVE);
  const configPath = (first.values.config as string | undefined) ?? (existsSync('hubbub.config.json') ? 'hubbub.config.json' : undefined);
  const config: Partial<ConfigFile> = configPath ? loadConfig(configPath, SERVE) : {};
  const { values: v } = parseArgs(argv, SERVE, process.env, config.options ?? {});
  const logger = createLogger(String(v['log-level']));
  const retention = {
    historyLimit: v['history-limit'] as number,
    historyTtlMs: parseDuration(v['history-ttl'], '--history-ttl'),
    dedupWindowMs: parseDuration(v['dedup-window'], '--dedup-window'),
    namespaces: parseNamespaceHistory((v['namespace-history'] as string[] | undefined) ?? []),
  };
  const engine = v.redis
    ? new RedisEngine({ url: v.redis as string, nodeTtlMs: parseDuration(v['node-ttl'], '--node-ttl'), ...retention })
    : new MemoryEngine(retention);
  const server = await HubbubServer.start({
    engine,
    postgres: v.postgres as string | undefined,
    adminKey: (v['admin-key'] as string | undefined) || undefined,
    watchTables: [...(config.watchTables ?? []), ...((v['watch-table'] as string[] | undefined) ?? []).map(parseWatchTable)],
    watchApp: (v['watch-app'] as string) === 'default' && config.watchApp ? config.watchApp : (v['watch-app'] as string),
    webhooks: config.webhooks,
    webhookRetryMs: parseDuration(v['webhook-retry'], '--webhook-retry'),
    webhookMaxDelayMs: parseDuration(v['webhook-max-delay'], '--webhook-max-delay'),
    maxBufferedBytes: v['max-buffered'] as number,
    port: v.port as number,
    host: v.host as string,
    dataDir: v['data-dir'] as string,
    signingKey: process.env.JWT_SIGNING_KEY || undefined,
    heartbeatMs: parseDuration(v.heartbeat, '--heartbeat'),
    maxPayloadBytes: v['max-payload'] as number,
    maxConnections: v['max-connections'] as number,
    allowedOrigins: v['allowed-origins'] as string[] | undefined,
    limits: {
      publishRate: v['publish-rate'] as number,
      publishBurst: 2 * (v['publish-rate'] as number),
      maxSubscriptions: v['max-subscriptions'] as number,
      authGraceMs: parseDuration(v['auth-grace'], '--auth-grace'),
      presenceResumeMs: parseDuration(v['presence-resume'], '--presence-resume'),
    },
    logger,
  });
  if (server.signingKeySource === 'dev-file') {
    logger.warn({ dataDir: v['data-dir'] }, 'JWT_SIGNING_KEY is not set: using a development signing key kept in the data dir');
  }
  logger.info({ port: server.port, engine: server.engine.kind, redis: v.redis ? redactUrl(v.redis as string) : undefined, store: server.store.kind }, `hubbub listening on http://localhost:${server.port}`);
  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => process.exit(1), 10_000);
    deadline.unref();
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return -1;
}

async function configCommand(argv: string[]): Promise<number> {
  const [action, file] = argv;
  if (action !== 'check' || !file) throw new UsageError('usage: hubbub config check FILE');
  try {
    const config = loadConfig(file, SERVE);
    (config.watchTables ?? []).forEach((t) => parseWatchTable(`${t.table}=${t.topic}`));
    const { values } = parseArgs([], SERVE, {}, config.options);
    parseDuration(values.heartbeat, 'heartbeat');
    parseDuration(values['history-ttl'], 'historyTtl');
    parseDuration(values['dedup-window'], 'dedupWindow');
    parseNamespaceHistory((values['namespace-history'] as string[] | undefined) ?? []);
  } catch (err) {
    process.stderr.write(`hubbub: ${(err as Error).message}\n`);
    return 1;
  }
  return print(`${file}: ok\n`);
}

async function devtoken(argv: string[]): Promise<number> {
  const { values: v } = parseArgs(argv, DEVTOKEN);
  if (!v.app || !v.client) throw new UsageError('devtoken needs --app and --client');
  const { key } = resolveSigningKey(process.env.JWT_SIGNING_KEY || undefined, v['data-dir'] as string);
  const capability = v.capability === undefined ? undefined : parseCapability(v.capability);
  const { token } = await new TokenAuthority(key).mint({
    app: v.app as string,
    clientId: v.client as string,
    ttlMs: parseDuration(v.ttl, '--ttl'),
    capability,
  });
  return print(`${token}\n`);
}

async function keys(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs(argv, KEYS);
  const store = new KeyStore(join(v['data-dir'] as string, 'keys.json'));
  const [action, name] = positionals;
  if (action === 'create') {
    if (!v.app) throw new UsageError('keys create needs --app');
    const capability = v.capability === undefined ? undefined : parseCapability(v.capability);
    return print(`${store.create(v.app as string, capability).key}\n`);
  }
  if (action === 'list') {
    const rows = store.list().map((r) => {
      const state = r.revokedAt ? `revoked ${r.revokedAt}` : `created ${r.createdAt}`;
      // Keys from before secrets were kept authenticate, but cannot sign or verify `kid` tokens.
      return `${r.app}.${r.keyId}\t${state}${r.secret === undefined ? '\thash only: cannot sign tokens' : ''}`;
    });
    return print(rows.length ? `${rows.join('\n')}\n` : 'no keys\n');
  }
  if (action === 'revoke') {
    if (!name) throw new UsageError('keys revoke needs the key name APP.KEYID');
    if (!store.revoke(name)) throw new UsageError(`no active key ${name}`);
    return print(`revoked ${name}\n`);
  }
  throw new UsageError('keys needs create, list or revoke');
}

/** `chat=500/10m` → chat: 500 messages for 10 minutes; either half may be left out (`chat=500`, `chat=/10m`). */
function parseNamespaceHistory(items: string[]): Record<string, NamespaceRetention> {
  const out: Record<string, NamespaceRetention> = {};
  for (const item of items) {
    const m = /^([A-Za-z0-9._-]+)=(\d*)(?:\/(.+))?$/.exec(item);
    if (!m || (!m[2] && !m[3])) throw new UsageError(`--namespace-history: expected NAMESPACE=LIMIT/DURATION, got ${JSON.stringify(item)}`);
    out[m[1]] = {
      ...(m[2] ? { historyLimit: Number(m[2]) } : {}),
      ...(m[3] ? { historyTtlMs: parseDuration(m[3], `--namespace-history ${m[1]}`) } : {}),
    };
  }
  return out;
}

/** Never log a password that came inside a URL. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    const usage = err instanceof UsageError;
    process.stderr.write(`hubbub: ${err instanceof Error ? err.message : String(err)}\n`);
    if (usage) process.stderr.write("Run 'hubbub --help' for usage.\n");
    process.exitCode = usage ? 2 : 1;
    if (!usage && !(err instanceof HubbubError) && !(err instanceof ConfigError)) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
  },
);
