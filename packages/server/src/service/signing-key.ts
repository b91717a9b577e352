import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The JWT signing key: `JWT_SIGNING_KEY` when set. Without it, a development key is made once
 * and kept in the data dir, so `npm start` and `hubbub devtoken` agree with no setup at all.
 */
export function resolveSigningKey(fromEnv: string | undefined, dataDir: string): { key: string; source: 'env' | 'dev-file' } {
  if (fromEnv) return { key: fromEnv, source: 'env' };
  const file = join(dataDir, 'dev-signing-key');
  try {
    return { key: readFileSync(file, 'utf8').trim(), source: 'dev-file' };
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const key = randomBytes(32).toString('base64url');
    try {
      writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    } catch {
      // Another process made it first: use theirs.
      return { key: readFileSync(file, 'utf8').trim(), source: 'dev-file' };
    }
    return { key, source: 'dev-file' };
  }
}
