import { readFileSync } from 'node:fs';
import type { WatchedTable } from './change-feed.js';
import type { WebhookEndpoint } from './webhooks/dispatcher.js';

/** `hubbub.config.json`: every `serve` option (camelCase of its flag), plus what only fits in a file. */
export interface ConfigFile {
  watchApp?: string;
  watchTables?: WatchedTable[];
  webhooks?: WebhookEndpoint[];
  /** Flag-named options, validated against the option table: `{ "port": 3000, "historyLimit": 200 }`. */
  options: Record<string, unknown>;
}

/** The part of an option's description the file needs: its name and type. */
export interface FileOptionSpec {
  name: string;
  type: 'string' | 'number' | 'boolean' | 'list';
}

export function camelCase(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export class ConfigError extends Error {}

export function loadConfig(path: string, specs: FileOptionSpec[] = []): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${path}: expected a JSON object`);
  const config = raw as Record<string, unknown>;
  const structured = new Set(['watchTables', 'webhooks']);
  const bySpec = new Map(specs.filter((s) => s.name !== 'config').map((s) => [camelCase(s.name), s]));
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (structured.has(key) || key === 'watchApp') continue;
    const spec = bySpec.get(key);
    if (!spec) {
      throw new ConfigError(`${path}: unknown key "${key}" (expected one of ${[...bySpec.keys(), ...structured].sort().join(', ')})`);
    }
    options[spec.name] = checkOption(path, key, spec, value);
  }
  if (typeof config.watchApp === 'string') options['watch-app'] = config.watchApp;
  if (config.watchApp !== undefined && typeof config.watchApp !== 'string') throw new ConfigError(`${path}: "watchApp" must be a string`);
  if (config.watchTables !== undefined) {
    if (!Array.isArray(config.watchTables)) throw new ConfigError(`${path}: "watchTables" must be an array of { table, topic }`);
    config.watchTables.forEach((t, i) => {
      if (typeof t?.table !== 'string' || typeof t?.topic !== 'string') {
        throw new ConfigError(`${path}: "watchTables[${i}]" must be { "table": string, "topic": string }`);
      }
    });
  }
  if (config.webhooks !== undefined) {
    if (!Array.isArray(config.webhooks)) throw new ConfigError(`${path}: "webhooks" must be an array`);
    config.webhooks.forEach((w, i) => {
      const where = `${path}: "webhooks[${i}]"`;
      if (typeof w?.app !== 'string') throw new ConfigError(`${where}.app must be a string`);
      if (typeof w?.url !== 'string' || !/^https?:\/\//.test(w.url)) throw new ConfigError(`${where}.url must be an http(s) URL`);
      if (typeof w?.secret !== 'string' || !w.secret.startsWith('whsec_')) throw new ConfigError(`${where}.secret must be "whsec_<base64>"`);
      if (w.events !== undefined && (!Array.isArray(w.events) || !w.events.every((e: unknown) => typeof e === 'string'))) {
        throw new ConfigError(`${where}.events must be an array of event type names`);
      }
    });
  }
  return { ...(config as Omit<ConfigFile, 'options'>), options };
}

function checkOption(path: string, key: string, spec: FileOptionSpec, value: unknown): unknown {
  const bad = (form: string): never => {
    throw new ConfigError(`${path}: "${key}" must be ${form}, got ${JSON.stringify(value)}`);
  };
  switch (spec.type) {
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? value : bad('a number');
    case 'boolean':
      return typeof value === 'boolean' ? value : bad('true or false');
    case 'list':
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
      return typeof value === 'string' ? value.split(',').map((v) => v.trim()).filter(Boolean) : bad('an array of strings');
    default:
      return typeof value === 'string' ? value : bad('a string');
  }
}
