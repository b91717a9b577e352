import { randomBytes } from 'node:crypto';
import { ErrorCode, HubbubError, isValidClientId, type AuthFrame } from '@hubbub/protocol';
import type { Authenticate, Identity } from '../core/identity.js';
import { looksLikeKey, type KeyStore, type VerifiedKey } from './keys.js';
import type { TokenAuthority } from './tokens.js';

/**
 * Credentials of a socket's `auth` frame: a JWT, or an API key for trusted servers. Every permanent
 * credential problem is 40101 (Foony's SDK gives up on 40101/40102 but retries anything else forever).
 */
export function authenticator(tokens: TokenAuthority, keys: KeyStore): Authenticate {
  return async (frame: AuthFrame): Promise<Identity> => {
    if (frame.token) return tokens.verify(frame.token);
    if (frame.key) return identityForKey(keys, frame.key, frame.clientId);
    throw new HubbubError(ErrorCode.BadAuth, 'auth needs a "token" or a "key"');
  };
}

/** A key's identity: the client id asked for, or one made up (never empty: clients show it). */
export function identityForKey(keys: KeyStore, key: string, clientId?: string): Identity {
  return keyIdentity(keys.verify(key), clientId);
}

function keyIdentity(verified: VerifiedKey, clientId?: string): Identity {
  if (clientId !== undefined && !isValidClientId(clientId)) {
    throw new HubbubError(ErrorCode.BadAuth, 'clientId must be 1-128 of [A-Za-z0-9._:@+-]');
  }
  return {
    app: verified.app,
    clientId: clientId ?? `anon-${randomBytes(6).toString('base64url')}`,
    ...(verified.capability ? { capability: verified.capability } : {}),
  };
}

/** Who made an HTTP request. `key` is set when the credential was an API key rather than a token. */
export type RestIdentity = Identity & { viaKey: boolean; key?: VerifiedKey };

/**
 * REST credentials: `Basic base64(<api key>)` (Foony's `Rest` client), `Bearer <api key>`, or
 * `Bearer <jwt>` (server-signed, or signed with an API key and naming it in `kid`).
 */
export async function authenticateHeader(header: string | undefined, tokens: TokenAuthority, keys: KeyStore): Promise<RestIdentity> {
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(header ?? '');
  const scheme = m?.[1].toLowerCase();
  const value = m?.[2];
  if (scheme === 'basic' && value) return viaKey(keys, Buffer.from(value, 'base64').toString('utf8'));
  if (scheme === 'bearer' && value) {
    if (looksLikeKey(value)) return viaKey(keys, value);
    return { ...(await tokens.verify(value)), viaKey: false };
  }
  throw new HubbubError(ErrorCode.BadAuth, 'send Authorization: Bearer <token> or Basic <api key>');
}

function viaKey(keys: KeyStore, key: string): RestIdentity {
  const verified = keys.verify(key);
  return { ...keyIdentity(verified), viaKey: true, key: verified };
}
