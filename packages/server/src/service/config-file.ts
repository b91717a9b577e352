import { readFileSync } from 'node:fs';
import type { WatchedTable } from './change-feed.js';
import type { WebhookEndpoint } from './webhooks/dispatcher.js';

/** `hubbub.config.json`: what is easier to write in a file than in flags. */
export interface ConfigFile {
  watchApp?: string;
  watchTables?: WatchedTable[];
  webhooks?: WebhookEndpoint[];
}

export class ConfigError extends Error {}

export function loadConfig(path: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${path}: expected a JSON object`);
  const config = raw as Record<string, unknown>;
  const known = new Set(['watchApp', 'watchTables', 'webhooks']);
  for (const key of Object.keys(config)) {
    if (!known.has(key)) throw new ConfigError(`${path}: unknown key "${key}" (expected one of ${[...known].join(', ')})`);
  }
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
  return config as ConfigFile;
}
