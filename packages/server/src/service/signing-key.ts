import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The development signing key's file in the data dir. */
export const DEV_KEY_FILE = 'dev-signing-key';

/**
 * The JWT signing key: `JWT_SIGNING_KEY` when set. Without it, a development key is made once
 * and kept in the data dir, so `npm start` and `hubbub devtoken` agree with no setup at all.
 * `created` is the key file's path when this call made it: a key nobody else knows yet, which the
 * caller should mention (a token signed with it is refused by a server using another data dir).
 */
export function resolveSigningKey(fromEnv: string | undefined, dataDir: string): { key: string; source: 'env' | 'dev-file'; created?: string } {
  if (fromEnv) return { key: fromEnv, source: 'env' };
  const file = join(dataDir, DEV_KEY_FILE);
  try {
    return { key: readFileSync(file, 'utf8').trim(), source: 'dev-file' };
  } catch {
    ensurePrivateDir(dataDir);
    const key = randomBytes(32).toString('base64url');
    try {
      writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    } catch {
      // Another process made it first: use theirs.
      return { key: readFileSync(file, 'utf8').trim(), source: 'dev-file' };
    }
    return { key, source: 'dev-file', created: resolve(file) };
  }
}

/**
 * The data dir holds secrets (API keys, the dev signing key, the store): a missing one is made
 * readable by its owner only. An existing one is left as it is: it may be a directory the operator
 * chose and shares on purpose, and the files in it are kept private one by one.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Make an existing file owner-only (0600); returns its former mode when others could read or write it. */
export function tightenPrivateFile(file: string): number | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  chmodSync(file, mode & 0o700);
  return mode;
}
