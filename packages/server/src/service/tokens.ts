import { SignJWT, errors, jwtVerify } from 'jose';
import { ErrorCode, HubbubError, isValidAppId, isValidClientId, parseCapability, type Capability } from '@hubbub/protocol';
import type { Identity } from '../core/identity.js';

/** Only these algorithms are ever accepted: never `none`, never a public-key alg for an HMAC secret. */
const ALGORITHMS = ['HS256'];

export interface MintRequest {
  app: string;
  clientId: string;
  ttlMs: number;
  capability?: Capability;
}

/** Mints and verifies Hubbub's JWTs with the server's signing key. */
export class TokenAuthority {
  private readonly key: Uint8Array;

  constructor(signingKey: string) {
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

  async verify(token: string): Promise<Identity> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: ALGORITHMS }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new HubbubError(ErrorCode.AuthExpired, 'token expired');
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'nbf') {
        throw new HubbubError(ErrorCode.BadAuth, 'token not yet valid');
      }
      throw new HubbubError(ErrorCode.BadAuth, 'invalid token');
    }
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
}
