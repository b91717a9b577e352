import { webcrypto } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import {
  ErrorCode,
  HubbubError,
  isCapabilitySubset,
  isValidAppId,
  isValidClientId,
  parseCapability,
  type Capability,
} from '@hubbub/protocol';
import type { Identity } from '../core/identity.js';
import type { KeyStore, VerifiedKey } from './keys.js';

/** Only these algorithms are ever accepted: never `none`, never a public-key alg for an HMAC secret. */
const ALGORITHMS = ['HS256'];
/** Clock skew allowed on tokens signed with an API key: they are made on the customer's machines. */
const KEY_TOKEN_LEEWAY_S = 5;
/** The capability written into a token whose key has none (everything). */
const EVERYTHING: Capability = { '*': ['*'] };

export interface MintRequest {
  app: string;
  clientId: string;
  ttlMs: number;
  capability?: Capability;
}

/** A token minted with an API key, in Foony's `createJwt` format, and what `requestToken` replies. */
export interface KeyToken {
  token: string;
  /** Unix ms (the `iat` claim × 1000). */
  issued: number;
  /** Unix ms (the `exp` claim × 1000). */
  expires: number;
  /** The `cap` claim: the capability as JSON text. */
  capability: string;
}

/**
 * Mints and verifies Hubbub's JWTs. Two kinds are accepted:
 * - no `kid` header: signed with the server's signing key, with an `app` claim (`hubbub devtoken`,
 *   `POST /auth/token`, the app's own backend);
 * - `kid` naming an API key (`app.keyId`): signed with that key's secret, Foony's `createJwt`
 *   format (`sub`, `cap` as JSON text, `iat`, `exp`); the app is the key's, and the token's
 *   capability must be within the key's.
 */
export class TokenAuthority {
  private readonly key: Uint8Array;
  /**
   * HMAC keys imported once for verifying, by secret: importing raw bytes on every verify was more
   * than half its cost (a reconnect storm verifies thousands of tokens at once).
   */
  private readonly verifyKeys = new Map<string, Promise<webcrypto.CryptoKey>>();

  constructor(
    private readonly signingKey: string,
    private readonly keys?: KeyStore,
  ) {
    if (signingKey.length < 16) throw new Error('JWT_SIGNING_KEY must be at least 16 characters');
    this.key = new TextEncoder().encode(signingKey);
  }

  async mint(req: MintRequest): Promise<{ token: string; expiresAt: number }> {
    if (!isValidAppId(req.app)) throw new HubbubError(ErrorCode.BadFrame, 'app must be 1-64 of [A-Za-z0-9_-]');
    if (!isValidClientId(req.clientId)) throw new HubbubError(ErrorCode.BadFrame, 'clientId must be 1-128 of [A-Za-z0-9._:@+-]');
    const now = Date.now();
    const expiresAt = Math.floor((now + req.ttlMs) / 1000) * 1000;
    const claims: Record<string, unknown> = { app: req.app };
    if (req.capability) claims.capability = req.capability;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(req.clientId)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(expiresAt / 1000)
      .sign(this.key);
    return { token, expiresAt };
  }

  /** A token signed with an API key's secret, byte-compatible with Foony's `createJwt`. */
  async mintForKey(key: VerifiedKey & { secret: string }, clientId: string, ttlMs: number, capability?: Capability): Promise<KeyToken> {
    if (!isValidClientId(clientId)) throw new HubbubError(ErrorCode.BadFrame, 'clientId must be 1-128 of [A-Za-z0-9._:@+-]');
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + Math.ceil(ttlMs / 1000);
    const cap = JSON.stringify(capability ?? key.capability ?? EVERYTHING);
    const token = await new SignJWT({ sub: clientId, cap, iat, exp })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.name })
      .sign(new TextEncoder().encode(key.secret));
    return { token, issued: iat * 1000, expires: exp * 1000, capability: cap };
  }

  async verify(token: string): Promise<Identity> {
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new HubbubError(ErrorCode.BadAuth, 'invalid token');
    }
    if (kid !== undefined) return this.verifyKeyToken(token, kid);
    const payload = await verified(token, await this.verifyKey(this.signingKey), 0);
    if (!isValidAppId(payload.app)) throw new HubbubError(ErrorCode.BadAuth, 'token has no valid "app" claim');
    if (!isValidClientId(payload.sub)) throw new HubbubError(ErrorCode.BadAuth, 'token has no valid "sub" (client id) claim');
    if (typeof payload.exp !== 'number') throw new HubbubError(ErrorCode.BadAuth, 'token has no "exp" claim');
    const identity: Identity = { app: payload.app, clientId: payload.sub, expiresAt: payload.exp * 1000 };
    if (payload.capability !== undefined) {
      try {
        identity.capability = parseCapability(payload.capability);
      } catch {
        throw new HubbubError(ErrorCode.BadAuth, 'token has a malformed "capability" claim');
      }
    }
    return identity;
  }

  /** The HS256 verifying key for `secret`, imported on first use (at most 1000 kept: keys are few). */
  private verifyKey(secret: string): Promise<webcrypto.CryptoKey> {
    let key = this.verifyKeys.get(secret);
    if (!key) {
      if (this.verifyKeys.size >= 1000) this.verifyKeys.clear();
      const raw = new TextEncoder().encode(secret);
      key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
      this.verifyKeys.set(secret, key);
    }
    return key;
  }

  /** A token signed with the secret of the API key its `kid` names. Every refusal is 40101 but expiry (40102). */
  private async verifyKeyToken(token: string, kid: unknown): Promise<Identity> {
    if (typeof kid !== 'string') throw new HubbubError(ErrorCode.BadAuth, 'token has a malformed "kid" header');
    if (!this.keys) throw new HubbubError(ErrorCode.BadAuth, 'tokens signed with an API key are not accepted here');
    const key = this.keys.byName(kid);
    const payload = await verified(token, await this.verifyKey(key.secret), KEY_TOKEN_LEEWAY_S);
    if (typeof payload.exp !== 'number') throw new HubbubError(ErrorCode.BadAuth, 'token has no "exp" claim');
    if (!isValidClientId(payload.sub)) {
      throw new HubbubError(ErrorCode.BadAuth, 'token needs a "sub" (client id) of 1-128 of [A-Za-z0-9._:@+-]');
    }
    if (payload.app !== undefined && payload.app !== key.app) {
      throw new HubbubError(ErrorCode.BadAuth, 'token\'s "app" claim is not the app of the key that signed it');
    }
    let capability = key.capability;
    const cap = payload.cap ?? payload.capability;
    if (cap !== undefined) {
      try {
        capability = parseCapability(cap, { allowUnknownOperations: true });
      } catch {
        throw new HubbubError(ErrorCode.BadAuth, 'token has a malformed "cap" claim (JSON text of channel pattern → operations)');
      }
      if (!isCapabilitySubset(capability, key.capability)) {
        throw new HubbubError(ErrorCode.BadAuth, 'token capability is wider than its API key allows');
      }
    }
    const identity: Identity = { app: key.app, clientId: payload.sub, expiresAt: payload.exp * 1000 };
    if (capability) identity.capability = capability;
    return identity;
  }
}

/** Check signature, algorithm and time claims; map failures to 40101, expiry to 40102. */
async function verified(token: string, secret: webcrypto.CryptoKey, leewaySeconds: number): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ALGORITHMS, clockTolerance: leewaySeconds });
    return payload;
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new HubbubError(ErrorCode.AuthExpired, 'token expired');
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'nbf') {
      throw new HubbubError(ErrorCode.BadAuth, 'token not yet valid');
    }
    throw new HubbubError(ErrorCode.BadAuth, 'invalid token');
  }
}
