import { readFileSync } from 'node:fs';
import { isValidAppId, isValidChannelName } from '@hubbub/protocol';
import type { WatchedTable } from './change-feed.js';
import type { WebhookEndpoint } from './webhooks/dispatcher.js';
import { DEFAULT_WEBHOOK_FORMAT, WEBHOOK_FORMATS, formatOf, type WebhookFormatName } from './webhooks/formats.js';
import { parseKeyName } from './keys.js';

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
    if (!Array.isArray(hooks)) problem('webhooks', 'must be an array of { "app", "url", "secret", "events"?, "format"? }');
    else {
      hooks.forEach((w: unknown, i) => webhookProblems(w, `webhooks[${i}]`).forEach(([key, text]) => problem(key, text)));
      sharedUrlProblems(hooks).forEach(([key, text]) => problem(key, text));
      out.webhooks = hooks as WebhookEndpoint[];
    }
  }
  return out;
}

/** Each problem of one webhook endpoint as [key, text]. The secret is never repeated in a message. */
function webhookProblems(w: unknown, where: string): Array<[string, string]> {
  if (typeof w !== 'object' || w === null || Array.isArray(w)) return [[where, 'must be { "app", "url", "secret" (or "format": "pusher" and "key"), "events"? }']];
  const hook = w as Record<string, unknown>;
  const found: Array<[string, string]> = [];
  if (typeof hook.app !== 'string' || !isValidAppId(hook.app)) found.push([`${where}.app`, `must be an app id (1-64 of A-Za-z0-9_-), got ${JSON.stringify(hook.app)}`]);
  if (typeof hook.url !== 'string' || !isHttpUrl(hook.url)) found.push([`${where}.url`, `must be an http(s) URL, got ${JSON.stringify(hook.url)}`]);
  if (hook.format !== undefined && !(WEBHOOK_FORMATS as readonly unknown[]).includes(hook.format)) {
    found.push([`${where}.format`, `must be one of ${WEBHOOK_FORMATS.join(', ')}, got ${JSON.stringify(hook.format)}`]);
    return found;
  }
  const format = (hook.format ?? DEFAULT_WEBHOOK_FORMAT) as WebhookFormatName;
  if (format === 'pusher') found.push(...pusherSigningProblems(hook, where));
  else {
    if (typeof hook.secret !== 'string' || !WEBHOOK_SECRET.test(hook.secret)) found.push([`${where}.secret`, 'must be "whsec_<base64>" (see generateWebhookSecret)']);
    if (hook.key !== undefined) found.push([`${where}.key`, 'is for "format": "pusher" endpoints (a standard endpoint signs with its "secret")']);
  }
  if (hook.events !== undefined) {
    const known: readonly string[] = formatOf({ format }).events;
    if (!Array.isArray(hook.events) || !hook.events.every((e: unknown) => typeof e === 'string' && known.includes(e))) {
      const kind = hook.format === undefined ? '' : ` (for the ${format} format)`;
      found.push([`${where}.events`, `must be an array of ${known.join(', ')}${kind}, got ${JSON.stringify(hook.events)}`]);
    }
  }
  return found;
}

/** A Pusher-format endpoint signs with an API key of its app, named in `key`; `serve` checks the key exists. */
function pusherSigningProblems(hook: Record<string, unknown>, where: string): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const parsed = typeof hook.key === 'string' ? parseKeyName(hook.key) : null;
  if (!parsed) found.push([`${where}.key`, `must name an API key of the app, APP.KEYID (from hubbub keys create), got ${JSON.stringify(hook.key)}`]);
  else if (typeof hook.app === 'string' && parsed.app !== hook.app) found.push([`${where}.key`, `names a key of app ${parsed.app}, not of ${hook.app}`]);
  if (hook.secret !== undefined) found.push([`${where}.secret`, `is not used by "format": "pusher" (requests are signed with the secret of "key"): remove it`]);
  return found;
}

/** The outbox knows an endpoint by app and URL: two entries for one of them cannot ask for two formats. */
function sharedUrlProblems(hooks: unknown[]): Array<[string, string]> {
  const formats = new Map<string, unknown>();
  const found: Array<[string, string]> = [];
  hooks.forEach((w, i) => {
    if (typeof w !== 'object' || w === null) return;
    const { app, url, format } = w as Record<string, unknown>;
    const key = `${String(app)} ${String(url)}`;
    const first = formats.get(key);
    if (!formats.has(key)) formats.set(key, format ?? DEFAULT_WEBHOOK_FORMAT);
    else if (first !== (format ?? DEFAULT_WEBHOOK_FORMAT)) found.push([`webhooks[${i}].format`, `differs from an earlier entry for the same app and url: give each format its own url`]);
  });
  return found;
}

function isHttpUrl(text: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}
