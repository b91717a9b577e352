import { ErrorCode, HubbubError } from '@hubbub/protocol';

/**
 * Pusher's channel names: up to 200 of `A-Za-z0-9_-=@,.;`, or a user's own `#server-to-user-{id}`.
 * They live in the same channel space as Hubbub's names: a name valid in both reaches both kinds of
 * client; the rest are reachable from Pusher clients and the Pusher HTTP API only.
 */
const PUSHER_CHANNEL = /^[A-Za-z0-9_\-=@,.;]{1,200}$/;
export const SERVER_TO_USER_PREFIX = '#server-to-user-';
export const MAX_PUSHER_CHANNEL_LENGTH = 200;

export type PusherChannelKind = 'public' | 'private' | 'private-encrypted' | 'presence' | 'server-to-user';

export function isValidPusherChannel(name: unknown): name is string {
  if (typeof name !== 'string' || name.length > MAX_PUSHER_CHANNEL_LENGTH) return false;
  if (name.startsWith(SERVER_TO_USER_PREFIX)) return PUSHER_CHANNEL.test(name.slice(SERVER_TO_USER_PREFIX.length));
  return PUSHER_CHANNEL.test(name);
}

export function assertPusherChannel(name: unknown): asserts name is string {
  if (!isValidPusherChannel(name)) {
    throw new HubbubError(ErrorCode.BadFrame, `invalid channel name: use 1-${MAX_PUSHER_CHANNEL_LENGTH} of [A-Za-z0-9_-=@,.;] (or #server-to-user-{id})`);
  }
}

/** What a name asks of a subscriber: nothing, a signature, a signature with member data, or a signed-in user. */
export function channelKind(name: string): PusherChannelKind {
  if (name.startsWith(SERVER_TO_USER_PREFIX)) return 'server-to-user';
  if (name.startsWith('private-encrypted-')) return 'private-encrypted';
  if (name.startsWith('private-')) return 'private';
  if (name.startsWith('presence-')) return 'presence';
  return 'public';
}

/** `cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`: the last event is kept for new subscribers. */
export function isCacheChannel(name: string): boolean {
  return /^(?:private-encrypted-|private-|presence-)?cache-/.test(name);
}
