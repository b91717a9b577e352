import { CloseCode } from '../core/close-codes.js';
import type { SessionRegistry } from '../core/session-registry.js';
import type { SseTransport } from '../transport/sse.js';
import type { KeyStore } from './keys.js';

/** How often each node looks for connections whose API key was revoked. */
export const REVOCATION_CHECK_MS = 2_000;

/**
 * Revoking an API key (`hubbub keys revoke`, which rewrites keys.json) ends, within
 * `REVOCATION_CHECK_MS`, every connection whose credentials came from that key: the key itself,
 * tokens it signed, tokens `POST /auth/token` minted with it. Each node checks its own data dir's
 * keys file, so nodes that share keys must share that file. Returns the timer, to clear on close.
 */
export function watchRevocations(keys: KeyStore, sessions: SessionRegistry, sse: Pick<SseTransport, 'closeWhere'>): NodeJS.Timeout {
  const sweep = setInterval(() => {
    const revoked = new Set(keys.list().filter((k) => k.revokedAt).map((k) => `${k.app}.${k.keyId}`));
    if (revoked.size === 0) return;
    for (const session of [...sessions.all()]) {
      if (session.keyName !== undefined && revoked.has(session.keyName)) session.close(CloseCode.KeyRevoked, 'API key revoked');
    }
    sse.closeWhere((identity) => identity.keyName !== undefined && revoked.has(identity.keyName), 'API key revoked');
  }, REVOCATION_CHECK_MS);
  sweep.unref();
  return sweep;
}
