import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Pusher's signatures of what an app's backend allows a connection: `KEY:` and the hex HMAC-SHA256,
 * with the app secret, of `socket_id:channel` (private), `socket_id:channel:channel_data` (presence)
 * or `socket_id::user::user_data` (sign-in).
 */

export function channelSignedText(socketId: string, channel: string, channelData?: string): string {
  return channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
}

export function userSignedText(socketId: string, userData: string): string {
  return `${socketId}::user::${userData}`;
}

/** Is `auth` this key's signature of `text`? Constant time in the signature; a wrong key id fails the same way. */
export function verifySignature(auth: unknown, keyId: string, secret: string, text: string): boolean {
  if (typeof auth !== 'string') return false;
  const colon = auth.indexOf(':');
  if (colon < 0) return false;
  const expected = createHmac('sha256', secret).update(text).digest();
  const given = Buffer.from(auth.slice(colon + 1), 'hex');
  // Compared at the expected length whatever was given, so a short or non-hex signature takes the same time.
  const padded = Buffer.alloc(expected.length);
  given.copy(padded);
  const same = timingSafeEqual(padded, expected);
  return same && given.length === expected.length && auth.slice(0, colon) === keyId;
}
