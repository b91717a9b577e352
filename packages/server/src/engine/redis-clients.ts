import type { Redis, RedisOptions } from 'ioredis';
import { optionalDependency } from '../core/optional-dependency.js';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { PRESENCE_ENTER_SCRIPT, PRESENCE_LEAVE_SCRIPT, PRESENCE_SYNC_SCRIPT, PUBLISH_SCRIPT } from './redis-scripts.js';

/** The command link, with the engine's scripts as commands (see redis-scripts.ts for their arguments). */
export type RedisCommands = Redis & {
  hubbubPublish(...args: Array<string | number>): Promise<[number, number, string]>;
  hubbubPresenceEnter(...args: Array<string | number>): Promise<[string, number, string, string, string]>;
  hubbubPresenceLeave(...args: Array<string | number>): Promise<[string, string, number, string, string, string, string]>;
  hubbubPresenceSync(...args: string[]): Promise<[number, ...string[]]>;
};

/**
 * The two links one node keeps: commands, and a subscriber (a subscribed link can issue nothing else).
 * Neither connects until asked to.
 */
export function createRedisClients(url: string): { cmd: RedisCommands; sub: Redis } {
  const common: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    // Fail fast while Redis is away: a publish must say it failed, not wait in a queue.
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
  };
  // Commands issued in the same tick (many connections publishing at once) go out as one write.
  const { Redis: Client } = optionalDependency<typeof import('ioredis')>('ioredis', 'The Redis engine (--redis)');
  const cmd = new Client(url, { ...common, enableAutoPipelining: true }) as RedisCommands;
  const sub = new Client(url, { ...common, autoResubscribe: true });
  cmd.defineCommand('hubbubPublish', { numberOfKeys: 5, lua: PUBLISH_SCRIPT });
  cmd.defineCommand('hubbubPresenceEnter', { numberOfKeys: 2, lua: PRESENCE_ENTER_SCRIPT });
  cmd.defineCommand('hubbubPresenceLeave', { numberOfKeys: 2, lua: PRESENCE_LEAVE_SCRIPT });
  cmd.defineCommand('hubbubPresenceSync', { numberOfKeys: 2, lua: PRESENCE_SYNC_SCRIPT });
  // Without a listener ioredis prints every link error to stderr; the requests that fail report it themselves.
  for (const client of [cmd, sub]) client.on('error', () => {});
  return { cmd, sub };
}

/** Redis failures become one clear error: the engine is unreachable (50001; over HTTP a retryable 503). */
export async function orUnavailable<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new HubbubError(ErrorCode.Bootstrap, `engine unavailable: ${(err as Error).message}`, 503);
  }
}
