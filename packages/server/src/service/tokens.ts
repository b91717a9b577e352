import { webcrypto } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
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
import { keyTokenCapability, signKeyToken, type KeyToken } from '../compat/dialects.js';
import { parseKeyName, type KeyStore, type VerifiedKey } from './keys.js';

/** Only these algorithms are ever accepted: never `none`, never a public-key alg for an HMAC secret. */
const ALGORITHMS = ['HS256'];
/** Clock skew allowed on tokens signed with an API key: they are made on the customer's machines. */
const KEY_TOKEN_LEEWAY_S = 5;
/** The capability written into a token whose key has none (everything). */
const EVERYTHING: Capability = { '*': ['*'] };

/** Which check refused a credential: logged, and named in the message the client gets. */
export type AuthFailureReason =
  | 'malformed'
  | 'algorithm'
  | 'bad-signature'
  | 'unknown-key'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-app'
  | 'bad-claims'
  | 'bad-key'
  | 'revoked-key'
  | 'no-credential';

/**
 * What the server may log about a refused credential: the reason, and the token's `kid`, `app` and
 * `sub` as the token states them (unverified: a refused token's claims are only what it says).
 * Never the token, a signature or a secret.
 */
export interface AuthFailureDetails {
  reason: AuthFailureReason;
  kid?: string;
  app?: string;
  sub?: string;
  /** `app.keyId` of an API key credential that was refused. */
  keyName?: string;
}

/**
 * A refused credential: 40101 (or 40102 when expired) with a message naming the check, and
 * `details` for the server's log. Clients get `toJSON()` (code, status, message), never `details`.
 */
export class AuthFailure extends HubbubError {
  constructor(
    code: typeof ErrorCode.BadAuth | typeof ErrorCode.AuthExpired,
    message: string,
    readonly details: AuthFailureDetails,
  ) {
    super(code, message);
  }
}

export interface MintRequest {
  app: string;
  clientId: string;
  ttlMs: number;
  capability?: Capability;
  /** The API key asking (`app.keyId`): written into the token, so revoking the key revokes the token. */
  keyName?: string;
}

/** A token minted with an API key, in the binary dialect's SDK's `createJwt` format. */
export type { KeyToken };

/**
 * Mints and verifies Hubbub's JWTs. Two kinds are accepted:
 * - no `kid` header: signed with the server's signing key, with an `app` claim (`hubbub devtoken`,
 *   `POST /auth/token`, the app's own backend);
 * - `kid` naming an API key (`app.keyId`): signed with that key's secret, in the binary dialect's
 *   SDK's `createJwt` format (`sub`, `cap` as JSON text, `iat`, `exp`); the app is the key's, and
 *   the token's capability must be within the key's.
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
    if (signingKey.length < 16) throw new HubbubError(ErrorCode.Bootstrap, 'JWT_SIGNING_KEY must be at least 16 characters: set a longer secret');
    this.key = new TextEncoder().encode(signingKey);
  }

  async mint(req: MintRequest): Promise<{ token: string; expiresAt: number }> {
    if (!isValidAppId(req.app)) throw new HubbubError(ErrorCode.BadFrame, 'app must be 1-64 of [A-Za-z0-9_-]');
    if (!isValidClientId(req.clientId)) throw new HubbubError(ErrorCode.BadFrame, 'clientId must be 1-128 of [A-Za-z0-9._:@+-]');
    const now = Date.now();
    const expiresAt = Math.floor((now + req.ttlMs) / 1000) * 1000;
    const claims: Record<string, unknown> = { app: req.app };
    if (req.capability) claims.capability = req.capability;
    if (req.keyName) claims.key = req.keyName;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(req.clientId)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(expiresAt / 1000)
      .sign(this.key);
    return { token, expiresAt };
  }

  /** A token signed with an API key's secret, byte-compatible with the binary dialect's SDK's `createJwt`. */
  async mintForKey(key: VerifiedKey & { secret: string }, clientId: string, ttlMs: number, capability?: Capability): Promise<KeyToken> {
    if (!isValidClientId(clientId)) throw new HubbubError(ErrorCode.BadFrame, 'clientId must be 1-128 of [A-Za-z0-9._:@+-]');
    return signKeyToken(key, clientId, ttlMs, capability ?? key.capability ?? EVERYTHING);
  }

  async verify(token: string): Promise<Identity> {
    const { header, facts } = readCompact(token);
    if (!ALGORITHMS.includes(header.alg as string)) {
      const alg = typeof header.alg === 'string' ? JSON.stringify(header.alg.slice(0, 16)) : 'missing';
      throw refused('algorithm', `token algorithm ${alg} is not accepted: only ${ALGORITHMS.join(', ')}`, facts);
    }
    if (header.kid !== undefined) return this.verifyKeyToken(token, header.kid, facts);
    const payload = await verified(token, await this.verifyKey(this.signingKey), 0, facts, "this server's signing key");
    if (!isValidAppId(payload.app)) throw refused('wrong-app', 'wrong app: the token has no valid "app" claim (1-64 of A-Za-z0-9_-)', facts);
    if (!isValidClientId(payload.sub)) throw refused('bad-claims', 'token has no valid "sub" (client id) claim', facts);
    if (typeof payload.exp !== 'number') throw refused('bad-claims', 'token has no "exp" claim', facts);
    const identity: Identity = { app: payload.app, clientId: payload.sub, expiresAt: payload.exp * 1000 };
    if (payload.key !== undefined) {
      // Minted by `POST /auth/token` with an API key: it lives only as long as that key does.
      if (typeof payload.key !== 'string' || !this.keys?.isActive(payload.key)) {
        throw refused('revoked-key', 'the API key that minted this token was revoked', { ...facts, keyName: String(payload.key).slice(0, 130) });
      }
      identity.keyName = payload.key;
    }
    if (payload.capability !== undefined) {
      try {
        identity.capability = parseCapability(payload.capability);
      } catch {
        throw refused('bad-claims', 'token has a malformed "capability" claim', facts);
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
  private async verifyKeyToken(token: string, kid: unknown, facts: Facts): Promise<Identity> {
    if (typeof kid !== 'string') throw refused('malformed', 'malformed token: the "kid" header must be a string', facts);
    if (!parseKeyName(kid)) throw refused('unknown-key', 'unknown key id: the "kid" header must name an API key as APP.KEYID', facts);
    if (!this.keys) throw refused('unknown-key', `unknown key id "${kid}": tokens signed with an API key are not accepted here`, facts);
    let key: VerifiedKey & { secret: string };
    try {
      key = this.keys.byName(kid);
    } catch (err) {
      throw err instanceof HubbubError ? refused('unknown-key', err.message, facts) : err;
    }
    const payload = await verified(token, await this.verifyKey(key.secret), KEY_TOKEN_LEEWAY_S, facts, `the secret of API key ${kid}`);
    if (typeof payload.exp !== 'number') throw refused('bad-claims', 'token has no "exp" claim', facts);
    if (!isValidClientId(payload.sub)) {
      throw refused('bad-claims', 'token needs a "sub" (client id) of 1-128 of [A-Za-z0-9._:@+-]', facts);
    }
    if (payload.app !== undefined && payload.app !== key.app) {
      throw refused('wrong-app', `wrong app: the token's "app" claim is not "${key.app}", the app of key ${kid} that signed it`, facts);
    }
    let capability = key.capability;
    const cap = keyTokenCapability(payload);
    if (cap !== undefined) {
      try {
        capability = parseCapability(cap, { allowUnknownOperations: true });
      } catch {
        throw refused('bad-claims', 'token has a malformed "cap" claim (JSON text of channel pattern → operations)', facts);
      }
      if (!isCapabilitySubset(capability, key.capability)) {
        throw refused('bad-claims', 'token capability is wider than its API key allows', facts);
      }
    }
    const identity: Identity = { app: key.app, clientId: payload.sub, expiresAt: payload.exp * 1000, keyName: key.name };
    if (capability) identity.capability = capability;
    return identity;
  }
}

/** What a token says about itself (`kid`, `app`, `sub`), for the log of a refusal. */
type Facts = Omit<AuthFailureDetails, 'reason'>;

function refused(reason: AuthFailureReason, message: string, facts: Facts): AuthFailure {
  return new AuthFailure(reason === 'expired' ? ErrorCode.AuthExpired : ErrorCode.BadAuth, message, { reason, ...facts });
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Longest claim value kept for the log: a refused token's claims are whatever its sender chose. */
const FACT_CHARS = 128;

/**
 * The compact form, canonical only: three parts, each unpadded base64url that re-encodes to exactly
 * itself (no `=`, no standard-base64 characters, no stray low bits in the last character). Decoders
 * forgive all of these; accepting them would let one token travel in many spellings, past any
 * deny list or cache keyed on its text.
 */
function readCompact(token: string): { header: Record<string, unknown>; facts: Facts } {
  const parts = token.split('.');
  const header = jsonPart(parts[0]);
  const payload = jsonPart(parts[1]);
  const facts: Facts = {};
  const kid = fact(header?.kid);
  if (kid !== undefined) facts.kid = kid;
  const app = fact(payload?.app) ?? (kid ? parseKeyName(kid)?.app : undefined);
  if (app !== undefined) facts.app = app;
  const sub = fact(payload?.sub);
  if (sub !== undefined) facts.sub = sub;
  if (parts.length !== 3) throw refused('malformed', `malformed token: expected header.payload.signature, got ${parts.length} part(s)`, facts);
  parts.forEach((part, i) => {
    if (!BASE64URL.test(part) || Buffer.from(part, 'base64url').toString('base64url') !== part) {
      throw refused('malformed', `malformed token: the ${['header', 'payload', 'signature'][i]} is not canonical unpadded base64url`, facts);
    }
  });
  if (!header) throw refused('malformed', 'malformed token: the header is not a JSON object', facts);
  if (!payload) throw refused('malformed', 'malformed token: the payload is not a JSON object', facts);
  return { header, facts };
}

function jsonPart(part: string | undefined): Record<string, unknown> | undefined {
  if (!part) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function fact(value: unknown): string | undefined {
  return typeof value === 'string' ? value.slice(0, FACT_CHARS) : undefined;
}

/** Check signature, algorithm and time claims; map failures to 40101 naming the check, expiry to 40102. */
async function verified(token: string, secret: webcrypto.CryptoKey, leewaySeconds: number, facts: Facts, signer: string): Promise<Record<string, unknown>> {
  try {
    const { payload } = await jwtVerify(token, secret, { algorithms: ALGORITHMS, clockTolerance: leewaySeconds });
    return payload;
  } catch (err) {
    if (err instanceof errors.JWTExpired) {
      const exp = typeof err.payload.exp === 'number' ? ` at ${new Date(err.payload.exp * 1000).toISOString()}` : '';
      throw refused('expired', `token expired${exp}: get a new one`, facts);
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) throw refused('bad-signature', `bad signature: the token was not signed with ${signer}`, facts);
    if (err instanceof errors.JOSEAlgNotAllowed) throw refused('algorithm', `token algorithm is not accepted: only ${ALGORITHMS.join(', ')}`, facts);
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'nbf') throw refused('not-yet-valid', 'token not yet valid ("nbf" is in the future)', facts);
    if (err instanceof errors.JWTClaimValidationFailed) throw refused('bad-claims', `token has an invalid "${err.claim}" claim`, facts);
    throw refused('malformed', `malformed token: ${(err as Error).message}`, facts);
  }
}
