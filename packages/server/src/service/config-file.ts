import { readFileSync } from 'node:fs';
import { isValidAppId, isValidChannelName } from '@hubbub/protocol';
import type { WatchedTable } from './change-feed.js';
import { WEBHOOK_EVENTS, type WebhookEndpoint } from './webhooks/dispatcher.js';

/**
 * `hubbub.config.json`: every `serve` option under the camelCase of its flag, plus what only fits
 * in a file (`watchTables`, `webhooks`).
 */
export interface ConfigFile {
  /** The file, as named on the command line: every message about it starts with it. */
  path: string;
  watchTables?: WatchedTable[];
  webhooks?: WebhookEndpoint[];
  /** Flag-named options as written (`{ "port": 3000 }` → `port`): the option table checks them. */
  options: Record<string, unknown>;
  /** What is wrong with the keys that are not options, each naming the file and the key. */
  problems: string[];
}

export function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A config file (or command line) that cannot be used: every problem found, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

const SECTIONS = ['watchTables', 'webhooks'];
const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,62}(?:\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;
const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/_-]{2,}={0,2}$/;

/** What is wrong with a watched table's name, or undefined (shared by `--watch-table` and `watchTables`). */
export function tableNameProblem(table: unknown): string | undefined {
  return typeof table === 'string' && TABLE.test(table) ? undefined : `must be a table name (TABLE or SCHEMA.TABLE), got ${JSON.stringify(table)}`;
}

/** What is wrong with the topic a table's changes go to, or undefined. */
export function topicNameProblem(topic: unknown): string | undefined {
  return typeof topic === 'string' && isValidChannelName(topic) ? undefined : `must be a topic name such as orders.changed, got ${JSON.stringify(topic)}`;
}

/**
 * Read a config file and check what only a file holds. Unknown keys, wrong shapes and bad values are
 * all collected in `problems` (the option values are checked by the option table in the same pass);
 * only a file that cannot be read or is not a JSON object throws.
 */
export function loadConfig(path: string, optionNames: string[]): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError([`${path}: ${(err as Error).message}`]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError([`${path}: expected a JSON object`]);
  const config = raw as Record<string, unknown>;
  const byKey = new Map(optionNames.filter((n) => n !== 'config').map((n) => [camelCase(n), n]));
  const problems: string[] = [];
  const problem = (key: string, text: string) => problems.push(`${path}: "${key}" ${text}`);
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (SECTIONS.includes(key)) continue;
    const name = byKey.get(key);
    if (name) options[name] = value;
    else problems.push(`${path}: unknown key "${key}" (expected one of ${[...byKey.keys(), ...SECTIONS].sort().join(', ')})`);
  }
  const out: ConfigFile = { path, options, problems };
  const tables = config.watchTables;
  if (tables !== undefined) {
    if (!Array.isArray(tables)) problem('watchTables', 'must be an array of { "table": …, "topic": … }');
    else {
      tables.forEach((t: unknown, i) => {
        if (typeof t !== 'object' || t === null || Array.isArray(t)) return problem(`watchTables[${i}]`, 'must be { "table": …, "topic": … }');
        const entry = t as Record<string, unknown>;
        const table = tableNameProblem(entry.table);
        const topic = topicNameProblem(entry.topic);
        if (table) problem(`watchTables[${i}].table`, table);
        if (topic) problem(`watchTables[${i}].topic`, topic);
        for (const extra of Object.keys(entry).filter((k) => k !== 'table' && k !== 'topic')) problem(`watchTables[${i}].${extra}`, 'is not a key (expected table and topic)');
      });
      out.watchTables = tables as WatchedTable[];
    }
  }
  const hooks = config.webhooks;
  if (hooks !== undefined) {
    if (!Array.isArray(hooks)) problem('webhooks', 'must be an array of { "app", "url", "secret", "events"? }');
    else {
      hooks.forEach((w: unknown, i) => webhookProblems(w, `webhooks[${i}]`).forEach(([key, text]) => problem(key, text)));
      out.webhooks = hooks as WebhookEndpoint[];
    }
  }
  return out;
}

/** Each problem of one webhook endpoint as [key, text]. The secret is never repeated in a message. */
function webhookProblems(w: unknown, where: string): Array<[string, string]> {
  if (typeof w !== 'object' || w === null || Array.isArray(w)) return [[where, 'must be { "app", "url", "secret", "events"? }']];
  const hook = w as Record<string, unknown>;
  const found: Array<[string, string]> = [];
  if (typeof hook.app !== 'string' || !isValidAppId(hook.app)) found.push([`${where}.app`, `must be an app id (1-64 of A-Za-z0-9_-), got ${JSON.stringify(hook.app)}`]);
  if (typeof hook.url !== 'string' || !isHttpUrl(hook.url)) found.push([`${where}.url`, `must be an http(s) URL, got ${JSON.stringify(hook.url)}`]);
  if (typeof hook.secret !== 'string' || !WEBHOOK_SECRET.test(hook.secret)) found.push([`${where}.secret`, 'must be "whsec_<base64>" (see generateWebhookSecret)']);
  if (hook.events !== undefined) {
    const known: readonly string[] = WEBHOOK_EVENTS;
    if (!Array.isArray(hook.events) || !hook.events.every((e: unknown) => typeof e === 'string' && known.includes(e))) {
      found.push([`${where}.events`, `must be an array of ${known.join(', ')}, got ${JSON.stringify(hook.events)}`]);
    }
  }
  return found;
}

function isHttpUrl(text: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}
