import { randomBytes } from 'node:crypto';
import { ErrorCode, HubbubError, isValidClientId, type AuthFrame } from '@hubbub/protocol';
import type { Authenticate, Identity } from '../core/identity.js';
import type { KeyStore } from './keys.js';
import type { TokenAuthority } from './tokens.js';

/** Credentials of a socket's `auth` frame: a JWT, or an API key for trusted servers. */
export function authenticator(tokens: TokenAuthority, keys: KeyStore): Authenticate {
  return async (frame: AuthFrame): Promise<Identity> => {
    if (frame.token) return tokens.verify(frame.token);
    if (frame.key) return identityForKey(keys, frame.key, frame.clientId);
    throw new HubbubError(ErrorCode.BadAuth, 'auth needs a "token" or a "key"');
  };
}

export function identityForKey(keys: KeyStore, key: string, clientId?: string): Identity {
  const verified = keys.verify(key);
  if (clientId !== undefined && !isValidClientId(clientId)) {
    throw new HubbubError(ErrorCode.BadFrame, 'clientId must be 1-128 of [A-Za-z0-9._:@+-]');
  }
  return {
    app: verified.app,
    clientId: clientId ?? `anon-${randomBytes(6).toString('base64url')}`,
    ...(verified.capability ? { capability: verified.capability } : {}),
  };
}

/** REST credentials: `Bearer <jwt>`, `Bearer <api key>` or `Basic base64(<api key>)`. */
export async function authenticateHeader(header: string | undefined, tokens: TokenAuthority, keys: KeyStore): Promise<Identity & { viaKey: boolean }> {
  const [scheme, value] = (header ?? '').split(' ', 2);
  if (scheme === 'Basic' && value) {
    return { ...identityForKey(keys, Buffer.from(value, 'base64').toString('utf8')), viaKey: true };
  }
  if (scheme === 'Bearer' && value) {
    if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+:/.test(value)) return { ...identityForKey(keys, value), viaKey: true };
    return { ...(await tokens.verify(value)), viaKey: false };
  }
  throw new HubbubError(ErrorCode.BadAuth, 'send Authorization: Bearer <token> or Basic <api key>');
}
