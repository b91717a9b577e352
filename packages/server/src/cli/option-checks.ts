/**
 * The value checks the option tables name (`check` of an OptionSpec): each returns what is wrong
 * with a value, or undefined. What a check accepts, the code reading the value can rely on.
 */
import { isValidAppId } from '@hubbub/protocol';
import type { NamespaceRetention } from '../engine/retention.js';
import { tableNameProblem, topicNameProblem } from '../service/config-file.js';
import { DURATION_FORM, durationMs } from '../service/duration.js';
import { redactUrl } from '../core/redact-url.js';

const NAMESPACE_ITEM = /^([A-Za-z0-9._-]+)=(\d*)(?:\/(.*))?$/;

/** `chat=500/10m`: 500 messages for 10 minutes; either half may be left out (`chat=500`, `chat=/10m`). */
export function namespaceHistoryProblem(item: string): string | undefined {
  const m = NAMESPACE_ITEM.exec(item);
  if (!m || (!m[2] && m[3] === undefined)) return 'expected NAMESPACE=LIMIT/DURATION, e.g. chat=500/10m, chat=500 or chat=/10m';
  if (m[3] !== undefined && !durationMs(m[3])) return `the duration must be ${DURATION_FORM}, more than 0`;
  return undefined;
}

/** Checked items (see `namespaceHistoryProblem`) → the retention of each namespace. */
export function parseNamespaceHistory(items: string[]): Record<string, NamespaceRetention> {
  const out: Record<string, NamespaceRetention> = {};
  for (const item of items) {
    const [, name, limit, ttl] = NAMESPACE_ITEM.exec(item)!;
    out[name] = {
      ...(limit ? { historyLimit: Number(limit) } : {}),
      ...(ttl ? { historyTtlMs: durationMs(ttl)! } : {}),
    };
  }
  return out;
}

/** `TABLE=TOPIC`, with a table name and a topic name. */
export function watchTableProblem(item: string): string | undefined {
  const eq = item.indexOf('=');
  if (eq < 0) return 'expected TABLE=TOPIC, e.g. orders=orders.changed';
  const table = tableNameProblem(item.slice(0, eq).trim());
  const topic = topicNameProblem(item.slice(eq + 1).trim());
  return table ? `the table ${table}` : topic ? `the topic ${topic}` : undefined;
}

/** A URL of one of these schemes (`redis:`), shown without its password when it is refused. */
export function urlCheck(what: string, ...protocols: string[]): (value: string) => string | undefined {
  return (value) => {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      // not a URL at all
    }
    if (url && protocols.includes(url.protocol)) return undefined;
    return `must be ${what} URL (${protocols.map((p) => `${p}//`).join(' or ')}…), got ${JSON.stringify(url ? redactUrl(value) : '(not a URL)')}`;
  };
}

export function appIdProblem(app: string): string | undefined {
  return isValidAppId(app) ? undefined : `must be an app id (1-64 of A-Za-z0-9_-), got ${JSON.stringify(app)}`;
}

/** Keys are `<prefix>:{channel}:…`: braces would move the hash tag, spaces are trouble in any tool. */
export function redisPrefixProblem(prefix: string): string | undefined {
  return /^[A-Za-z0-9._:-]{1,64}$/.test(prefix) ? undefined : `must be 1-64 of A-Za-z0-9._:-, got ${JSON.stringify(prefix)}`;
}

export function notEmpty(value: string): string | undefined {
  return value.trim() === '' ? 'must not be empty' : undefined;
}
