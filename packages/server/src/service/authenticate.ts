import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrorCode, HubbubError, isValidClientId, type AuthFrame } from '@hubbub/protocol';
import type { Identity } from '../core/identity.js';
import { looksLikeKey, parseKeyName, splitKey, type KeyStore, type VerifiedKey } from './keys.js';
import { AuthFailure, type AuthFailureDetails, type TokenAuthority } from './tokens.js';

/** A refused credential, as the server logs it: which check failed and who the credential claims to be. */
export interface AuthFailureReport extends AuthFailureDetails {
  credential: 'token' | 'key' | 'none';
  code: number;
  /** What the client was told. */
  message: string;
}

/** Told of every refused credential, with the client's address when the caller knows it. */
export type OnAuthFailure = (failure: AuthFailureReport, address?: string) => void;

export interface AuthReporting {
  onFailure?: OnAuthFailure;
}

/** The server's `onFailure`: one `info` line per refusal (a client's mistake, not the server's). */
export function logAuthFailures(log: Logger): OnAuthFailure {
  return (failure, address) => log.info({ ...failure, ...(address ? { address } : {}) }, `auth refused: ${failure.reason}`);
}

/**
 * Credentials of a socket's `auth` frame: a JWT, or an API key for trusted servers. Every permanent
 * credential problem is 40101 (the binary dialect's SDK gives up on 40101/40102 but retries anything
 * else forever).
 */
export function authenticator(tokens: TokenAuthority, keys: KeyStore, reporting: AuthReporting = {}): (frame: AuthFrame, address?: string) => Promise<Identity> {
  return async (frame: AuthFrame, address?: string): Promise<Identity> => {
    try {
      if (frame.token) return await tokens.verify(frame.token);
      if (frame.key) return identityForKey(keys, frame.key, frame.clientId);
      throw new AuthFailure(ErrorCode.BadAuth, 'auth needs a "token" or a "key"', { reason: 'no-credential' });
    } catch (err) {
      report(reporting.onFailure, err, frame.token ? 'token' : frame.key ? 'key' : 'none', frame.key, address);
      throw err;
    }
  };
}

/** Tell `onFailure` about a credential refusal (and nothing else: a store outage is not the client's doing). */
function report(onFailure: OnAuthFailure | undefined, err: unknown, credential: AuthFailureReport['credential'], key: string | undefined, address?: string): void {
  if (!onFailure || !(err instanceof HubbubError) || (err.code !== ErrorCode.BadAuth && err.code !== ErrorCode.AuthExpired)) return;
  const details: AuthFailureDetails = err instanceof AuthFailure ? err.details : { reason: credential === 'key' ? 'bad-key' : 'malformed' };
  const name = key === undefined ? undefined : splitKey(key)?.name;
  const keyName = name && parseKeyName(name) ? { keyName: name } : {};
  onFailure({ credential, code: err.code, message: err.message, ...details, ...keyName }, address);
}

/** A key's identity: the client id asked for, or one made up (never empty: clients show it). */
export function identityForKey(keys: KeyStore, key: string, clientId?: string): Identity {
  return keyIdentity(keys.verify(key), clientId);
}

function keyIdentity(verified: VerifiedKey, clientId?: string): Identity {
  if (clientId !== undefined && !isValidClientId(clientId)) {
    throw new AuthFailure(ErrorCode.BadAuth, 'clientId must be 1-128 of [A-Za-z0-9._:@+-]', { reason: 'bad-claims', keyName: verified.name });
  }
  return {
    app: verified.app,
    clientId: clientId ?? `anon-${randomBytes(6).toString('base64url')}`,
    keyName: verified.name,
    ...(verified.capability ? { capability: verified.capability } : {}),
  };
}

/** Who made an HTTP request. `key` is set when the credential was an API key rather than a token. */
export type RestIdentity = Identity & { viaKey: boolean; key?: VerifiedKey };

/**
 * REST credentials: `Basic base64(<api key>)` (the binary dialect's SDK's `Rest` client),
 * `Bearer <api key>`, or `Bearer <jwt>` (server-signed, or signed with an API key and naming it in
 * `kid`).
 */
export async function authenticateHeader(
  header: string | undefined,
  tokens: TokenAuthority,
  keys: KeyStore,
  reporting: AuthReporting & { address?: string } = {},
): Promise<RestIdentity> {
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(header ?? '');
  const scheme = m?.[1].toLowerCase();
  const value = m?.[2];
  const key = scheme === 'basic' && value ? Buffer.from(value, 'base64').toString('utf8') : scheme === 'bearer' && value && looksLikeKey(value) ? value : undefined;
  const credential = key !== undefined ? 'key' : scheme === 'bearer' && value ? 'token' : 'none';
  try {
    if (key !== undefined) return viaKey(keys, key);
    if (credential === 'token') return { ...(await tokens.verify(value!)), viaKey: false };
    throw new AuthFailure(ErrorCode.BadAuth, 'send Authorization: Bearer <token> or Basic <api key>', { reason: 'no-credential' });
  } catch (err) {
    report(reporting.onFailure, err, credential, key, reporting.address);
    throw err;
  }
}

function viaKey(keys: KeyStore, key: string): RestIdentity {
  const verified = keys.verify(key);
  return { ...keyIdentity(verified), viaKey: true, key: verified };
}
