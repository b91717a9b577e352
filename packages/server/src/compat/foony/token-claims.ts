import { SignJWT } from 'jose';
import type { Capability } from '@hubbub/protocol';

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

/** The API key that signs: its name (`app.keyId`, the `kid` header) and its secret (the HMAC key). */
export interface KeySigner {
  name: string;
  secret: string;
}

/**
 * A token signed with an API key's secret, byte-compatible with Foony's `createJwt`: header
 * `{alg: HS256, typ: JWT, kid}`, claims `sub`, `cap` (JSON text), `iat`, `exp` (whole seconds, the
 * lifetime rounded up), in that order.
 */
export async function signKeyToken(signer: KeySigner, clientId: string, ttlMs: number, capability: Capability): Promise<KeyToken> {
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + Math.ceil(ttlMs / 1000);
  const cap = JSON.stringify(capability);
  const token = await new SignJWT({ sub: clientId, cap, iat, exp })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: signer.name })
    .sign(new TextEncoder().encode(signer.secret));
  return { token, issued: iat * 1000, expires: exp * 1000, capability: cap };
}

/**
 * The capability a key-signed token states: Foony's `cap` claim (JSON text), or `capability` as
 * server-signed tokens spell it. Unchecked: the caller parses it.
 */
export function keyTokenCapability(payload: Record<string, unknown>): unknown {
  return payload.cap ?? payload.capability;
}
