#!/usr/bin/env node
import { join } from 'node:path';
import { parseCapability } from '@hubbub/protocol';
import { HubbubServer } from '../service/server.js';
import { MemoryEngine } from '../engine/memory.js';
import { RedisEngine } from '../engine/redis.js';
import { redactUrl } from '../core/redact-url.js';
import { parseWatchTable } from '../service/change-feed.js';
import { ConfigError, loadConfig, type ConfigFile } from '../service/config-file.js';
import { HubbubError } from '@hubbub/protocol';
import { createLogger } from '../service/logger.js';
import { existsSync } from 'node:fs';
import { KeyStore } from '../service/keys.js';
import { TokenAuthority } from '../service/tokens.js';
import { resolveSigningKey } from '../service/signing-key.js';
import { parseDuration } from '../service/duration.js';
import { UsageError, helpText, parseArgs, rawOption, type Parsed } from './args.js';
import { parseNamespaceHistory } from './option-checks.js';
import { DEVTOKEN, KEYS, SERVE } from './options.js';


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
      if (wantsHelp) return print(helpText('hubbub keys create --app APP [--format pusher] | keys list | keys revoke APP.KEYID', 'Manage API keys.', KEYS));
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
  const { values: v, config } = serveOptions(argv, process.env);
  const logger = createLogger(String(v['log-level']));
  const retention = {
    historyLimit: v['history-limit'] as number,
    historyTtlMs: parseDuration(v['history-ttl'], '--history-ttl'),
    dedupWindowMs: parseDuration(v['dedup-window'], '--dedup-window'),
    namespaces: parseNamespaceHistory((v['namespace-history'] as string[] | undefined) ?? []),
    maxHistoryBytesPerApp: v['max-history-per-app'] as number,
  };
  const engine = v.redis
    ? new RedisEngine({ url: v.redis as string, prefix: v['redis-prefix'] as string, nodeTtlMs: parseDuration(v['node-ttl'], '--node-ttl'), commandTimeoutMs: parseDuration(v['redis-command-timeout'], '--redis-command-timeout'), log: logger, ...retention })
    : new MemoryEngine(retention);
  const server = await HubbubServer.start({
    engine,
    postgres: v.postgres as string | undefined,
    adminKey: (v['admin-key'] as string | undefined) || undefined,
    watchTables: [...(config?.watchTables ?? []), ...((v['watch-table'] as string[] | undefined) ?? []).map(parseWatchTable)],
    watchApp: v['watch-app'] as string,
    webhooks: config?.webhooks,
    webhookRetryMs: parseDuration(v['webhook-retry'], '--webhook-retry'),
    webhookMaxDelayMs: parseDuration(v['webhook-max-delay'], '--webhook-max-delay'),
    webhookAllowPrivate: v['webhook-allow-private'] as boolean,
    webhookAllowedDestinations: v['webhook-allow'] as string[] | undefined,
    webhookMaxQueue: v['webhook-max-queue'] as number,
    webhookMaxQueueBytes: v['webhook-max-queue-bytes'] as number,
    webhookMaxDataBytes: v['webhook-max-data'] as number,
    maxBufferedBytes: v['max-buffered'] as number,
    pusherMaxPresenceMembers: v['pusher-max-presence-members'] as number,
    port: v.port as number,
    host: v.host as string,
    dataDir: v['data-dir'] as string,
    signingKey: process.env.JWT_SIGNING_KEY || undefined,
    heartbeatMs: parseDuration(v.heartbeat, '--heartbeat'),
    maxPayloadBytes: v['max-payload'] as number,
    maxConnections: v['max-connections'] as number,
    maxPendingConnections: v['max-pending-connections'] as number,
    restPublishRate: v['rest-publish-rate'] as number,
    restPublishBurst: v['rest-publish-burst'] as number,
    restReadRate: v['rest-read-rate'] as number,
    maxConnectionsPerApp: v['max-connections-per-app'] as number,
    maxDocumentsPerApp: v['max-documents-per-app'] as number,
    maxDocumentBytes: v['max-document-size'] as number,
    allowedOrigins: v['allowed-origins'] as string[] | undefined,
    limits: {
      publishRate: v['publish-rate'] as number,
      publishBurst: 2 * (v['publish-rate'] as number),
      maxSubscriptions: v['max-subscriptions'] as number,
      maxPresenceChannels: v['max-presence'] as number,
      presenceRate: v['presence-rate'] as number,
      presenceBurst: 2 * (v['presence-rate'] as number),
      maxPresenceBytes: v['max-presence-data'] as number,
      inputBacklogFrames: v['max-input-backlog'] as number,
      inputBacklogBytes: v['max-input-backlog-bytes'] as number,
      publishesInFlight: v['max-publishes-in-flight'] as number,
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

/**
 * `serve`'s options from flags, environment, the config file and defaults, every value checked in
 * one pass by the option table (the same check `config check` runs on the file alone).
 */
function serveOptions(argv: string[], env: NodeJS.ProcessEnv): { values: Parsed['values']; config?: ConfigFile } {
  const path = rawOption(argv, SERVE, 'config', env) ?? (existsSync('hubbub.config.json') ? 'hubbub.config.json' : undefined);
  const config = path === undefined ? undefined : loadConfig(path, SERVE.map((s) => s.name));
  return { values: parseArgs(argv, SERVE, env, config).values, config };
}

async function configCommand(argv: string[]): Promise<number> {
  const [action, file] = argv;
  if (action !== 'check' || !file) throw new UsageError('usage: hubbub config check FILE');
  // Throws a ConfigError listing every problem of the file: main prints each and exits 1.
  parseArgs([], SERVE, {}, loadConfig(file, SERVE.map((s) => s.name)));
  return print(`${file}: ok\n`);
}

async function devtoken(argv: string[]): Promise<number> {
  const { values: v } = parseArgs(argv, DEVTOKEN);
  if (!v.app || !v.client) throw new UsageError('devtoken needs --app and --client');
  const { key, created } = resolveSigningKey(process.env.JWT_SIGNING_KEY || undefined, v['data-dir'] as string);
  if (created) {
    process.stderr.write(`hubbub: made a new development signing key in ${created}: only a server with this --data-dir (or the same JWT_SIGNING_KEY) accepts its tokens\n`);
  }
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
    // A Pusher key's id is public (every page running pusher-js shows it): only such keys open `/app/{keyId}`.
    const { key, record } = store.create(v.app as string, capability, { pusher: v.format === 'pusher' });
    // A Pusher app's id, key and secret are the key's app, id and secret: all shell- and dotenv-safe characters.
    if (v.format === 'pusher') return print(`PUSHER_APP_ID=${record.app}\nPUSHER_APP_KEY=${record.keyId}\nPUSHER_APP_SECRET=${record.secret}\n`);
    return print(`${key}\n`);
  }
  if (action === 'list') {
    const rows = store.list().map((r) => {
      const state = r.revokedAt ? `revoked ${r.revokedAt}` : `created ${r.createdAt}`;
      // Keys from before secrets were kept authenticate, but cannot sign or verify `kid` tokens.
      const pusher = r.pusher ? '\tpusher: key id public, opens /app/{keyId}' : '';
      return `${r.app}.${r.keyId}\t${state}${pusher}${r.secret === undefined ? '\thash only: cannot sign tokens' : ''}`;
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
    const known = usage || err instanceof ConfigError || err instanceof HubbubError;
    const lines = err instanceof UsageError || err instanceof ConfigError ? err.problems : [err instanceof Error ? err.message : String(err)];
    for (const line of lines) process.stderr.write(`hubbub: ${line}\n`);
    if (usage) process.stderr.write("Run 'hubbub --help' for usage.\n");
    if (!known) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    // Now, not when the event loop drains: a fatal error must end the process, whatever is left open.
    process.exit(usage ? 2 : 1);
  },
);
