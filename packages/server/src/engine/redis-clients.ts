import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { optionalDependency } from '../core/optional-dependency.js';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { PRESENCE_ENTER_SCRIPT, PRESENCE_LEAVE_SCRIPT, PRESENCE_SYNC_SCRIPT, publishBatchScript, type FanOutCommand } from './redis-scripts.js';

/** The command link, with the engine's scripts as commands (see redis-scripts.ts for their arguments). */
export type RedisCommands = (Redis | Cluster) & {
  /** `numkeys`, then the keys and arguments of publishBatchScript. */
  hubbubPublishBatch(...args: Array<string | number>): Promise<number[]>;
  hubbubPresenceEnter(...args: Array<string | number>): Promise<[string, number, string, string, string]>;
  hubbubPresenceLeave(...args: Array<string | number>): Promise<[string, string, number, string, string, string, string]>;
  hubbubPresenceSync(...args: string[]): Promise<[number, ...string[]]>;
};

/** Fan-out as the engine sees it, whether over classic pub/sub (one Redis) or sharded pub/sub (a cluster). */
export interface RedisSubscriber {
  /** Subscribe to these pub/sub channels (already subscribed ones are left as they are). */
  subscribe(channels: string[]): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  onMessage(fn: (channel: string, payload: string) => void): void;
  /**
   * `fn` runs each time subscriptions were made again after a link went away (the subscriber's
   * reconnect; on a cluster, a shard's new master after a failover): what was published meanwhile is
   * to be fetched.
   */
  onResubscribed(fn: () => void): void;
}

/** What the engine talks to Redis through; a factory makes it for one Redis or for a cluster. */
export interface RedisLinks {
  readonly cmd: RedisCommands;
  readonly sub: RedisSubscriber;
  /** Every connection object to connect, watch for errors and close (the command link first). */
  readonly links: ReadonlyArray<Redis | Cluster>;
  /** Where keys live, for the few commands that look across keys (KEYS): the Redis, or each master. */
  keyHolders(): Redis[];
  /**
   * Whether one script call may hold publishes of different channels: on one Redis, yes; on a cluster
   * a call's keys must share a slot, so a batch holds one channel's publishes.
   */
  readonly batchAcrossChannels: boolean;
  /** Announce on a channel's pub/sub outside a script (presence changes). */
  publish(channel: string, payload: string): Promise<unknown>;
}

/** How the links behave: see RedisEngineOptions. */
export interface RedisLinkOptions {
  commandTimeoutMs: number;
}

/** Makes the links for a `--redis` URL. */
export type RedisLinksFactory = (url: string, options: RedisLinkOptions) => RedisLinks;

/** Backoff between reconnect attempts while Redis is away. */
export const redisRetryDelay = (times: number): number => Math.min(100 * 2 ** Math.min(times, 6), 5000);

export function loadIoredis(): typeof import('ioredis') {
  return optionalDependency<typeof import('ioredis')>('ioredis', 'The Redis engine (--redis)');
}

/** The engine's scripts as commands of `cmd`, publishing with `fanOut`. */
export function defineScripts(cmd: Redis | Cluster, fanOut: FanOutCommand): RedisCommands {
  // No fixed key count: a batch holds as many publishes as its turn had.
  cmd.defineCommand('hubbubPublishBatch', { lua: publishBatchScript(fanOut) });
  cmd.defineCommand('hubbubPresenceEnter', { numberOfKeys: 2, lua: PRESENCE_ENTER_SCRIPT });
  cmd.defineCommand('hubbubPresenceLeave', { numberOfKeys: 2, lua: PRESENCE_LEAVE_SCRIPT });
  cmd.defineCommand('hubbubPresenceSync', { numberOfKeys: 2, lua: PRESENCE_SYNC_SCRIPT });
  return cmd as RedisCommands;
}

/**
 * One Redis: two links, commands and a subscriber (a subscribed link can issue nothing else), classic
 * pub/sub. Neither connects until asked to.
 */
export function createSingleLinks(url: string, options: RedisLinkOptions): RedisLinks {
  const common: RedisOptions = {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    // Fail fast while Redis is away: a publish must say it failed, not wait in a queue.
    enableOfflineQueue: false,
    retryStrategy: redisRetryDelay,
  };
  const { Redis: Client } = loadIoredis();
  // Commands issued in the same tick (many connections publishing at once) go out as one write.
  const cmd = defineScripts(new Client(url, { ...common, enableAutoPipelining: true, commandTimeout: options.commandTimeoutMs }), 'PUBLISH') as RedisCommands & Redis;
  const sub = new Client(url, { ...common, autoResubscribe: true });
  // Without a listener ioredis prints every link error to stderr; the requests that fail report it themselves.
  for (const client of [cmd, sub]) client.on('error', () => {});
  return {
    cmd,
    links: [cmd, sub],
    keyHolders: () => [cmd],
    batchAcrossChannels: true,
    publish: (channel, payload) => cmd.publish(channel, payload),
    sub: {
      subscribe: async (channels) => {
        if (channels.length > 0) await sub.subscribe(...channels);
      },
      unsubscribe: async (channel) => void (await sub.unsubscribe(channel)),
      onMessage: (fn) => void sub.on('message', fn),
      onResubscribed: (fn) => void sub.on('ready', fn),
    },
  };
}

/** Redis failures become one clear error: the engine is unreachable (50001; over HTTP a retryable 503). */
export async function orUnavailable<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw unavailable(err as Error);
  }
}

/** ioredis's words for a command past `commandTimeout`; the same for a wait this engine bounds itself. */
const TIMED_OUT = 'Command timed out';

/** The error of a wait on Redis that took longer than --redis-command-timeout. */
export const timedOut = (): HubbubError => unavailable(new Error(TIMED_OUT));

/** `promise`, or the timed-out error should it take longer than `ms`. */
export function answeredWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timedOut()), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The error a caller hears when Redis failed it (see `orUnavailable`). */
export function unavailable(err: Error): HubbubError {
  if (err instanceof HubbubError) return err;
  const why = err.message === TIMED_OUT ? 'Redis did not answer within --redis-command-timeout' : err.message;
  return new HubbubError(ErrorCode.Bootstrap, `engine unavailable: ${why}`, 503);
}
