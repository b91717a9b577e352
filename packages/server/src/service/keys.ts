import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCode, HubbubError, isValidAppId, type Capability } from '@hubbub/protocol';
import { ensurePrivateDir } from './signing-key.js';

/**
 * A stored API key `app.keyId:secret`. The secret itself is kept (in a 0600 file) because tokens
 * minted with the binary dialect's SDK's `createJwt` are HMAC-signed with it and name the key in
 * their `kid` header: verifying them needs the secret, not a hash of it.
 */
export interface ApiKeyRecord {
  app: string;
  keyId: string;
  secret?: string;
  /**
   * Keys made by earlier versions kept only this hash. They still authenticate as keys, but cannot
   * verify `kid` tokens; `POST /keys/{name}/requestToken` then mints server-signed tokens instead.
   */
  secretSha256?: string;
  capability?: Capability;
  /**
   * A Pusher app key (`keys create --format pusher`): only these answer at `/app/{keyId}`. A Pusher
   * client names its app by the key id alone and every page running pusher-js shows it, so the id of
   * such a key is public; other keys' ids travel inside tokens (`key` claim, `kid` header) and must
   * not open anything by themselves.
   */
  pusher?: true;
  createdAt: string;
  revokedAt?: string;
}

/** A key whose secret was checked (or looked up by name to verify a token it signed). */
export interface VerifiedKey {
  app: string;
  keyId: string;
  /** `app.keyId`, the part before the first `:`. */
  name: string;
  capability?: Capability;
  /** The stored secret, for signing and verifying `kid` tokens; absent for keys kept as a hash only. */
  secret?: string;
}

/** `app.keyId` → its parts; null when it is not a key name. */
export function parseKeyName(name: string): { app: string; keyId: string } | null {
  const m = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64})$/.exec(name);
  return m ? { app: m[1], keyId: m[2] } : null;
}

/** Split a whole key at its first `:` (the secret may itself hold more). */
export function splitKey(key: string): { name: string; secret: string } | null {
  const colon = key.indexOf(':');
  if (colon <= 0 || colon === key.length - 1) return null;
  return { name: key.slice(0, colon), secret: key.slice(colon + 1) };
}

/** Does this look like a whole API key (as opposed to a JWT)? */
export function looksLikeKey(value: string): boolean {
  const parts = splitKey(value);
  return parts !== null && parseKeyName(parts.name) !== null;
}

/**
 * API keys `app.keyId:secret` (`appSlug.publicKeyId:privateKey` in the binary dialect's SDK), kept
 * in a JSON file in the data dir with mode 0600 (in a 0700 directory when it makes one). The server
 * re-reads the file when it changes, so `hubbub keys create` and `keys revoke` take effect without a
 * restart.
 */
export class KeyStore {
  private records: ApiKeyRecord[] = [];
  private loadedMtime = -1;

  constructor(private readonly file: string) {}

  create(app: string, capability?: Capability, options: { pusher?: boolean } = {}): { key: string; record: ApiKeyRecord } {
    if (!isValidAppId(app)) throw new HubbubError(ErrorCode.BadFrame, 'app must be 1-64 of [A-Za-z0-9_-]');
    const keyId = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x');
    const secret = randomBytes(24).toString('base64url');
    const record: ApiKeyRecord = { app, keyId, secret, createdAt: new Date().toISOString() };
    if (capability) record.capability = capability;
    if (options.pusher) record.pusher = true;
    this.save([...this.load(), record]);
    return { key: `${app}.${keyId}:${secret}`, record };
  }

  revoke(keyName: string): boolean {
    const records = this.load();
    const record = records.find((r) => `${r.app}.${r.keyId}` === keyName && !r.revokedAt);
    if (!record) return false;
    record.revokedAt = new Date().toISOString();
    this.save(records);
    return true;
  }

  list(): ApiKeyRecord[] {
    return this.load();
  }

  /** Check a whole key `app.keyId:secret`; throws 40101 for an unknown, revoked or wrong key. */
  verify(key: string): VerifiedKey {
    const parts = splitKey(key);
    const record = parts ? this.find(parts.name) : undefined;
    if (!parts || !record || record.revokedAt || !secretMatches(record, parts.secret)) {
      throw new HubbubError(ErrorCode.BadAuth, 'invalid or revoked API key');
    }
    return view(record);
  }

  /**
   * The active key named `app.keyId`, with its secret, to verify a token that names it in `kid`.
   * Throws 40101 when there is no such key, it was revoked, or only a hash of its secret is kept.
   */
  byName(name: string): VerifiedKey & { secret: string } {
    const record = this.find(name);
    if (!record) throw new HubbubError(ErrorCode.BadAuth, `unknown key id "${name}": no such API key`);
    if (record.revokedAt) throw new HubbubError(ErrorCode.BadAuth, `key id "${name}" names a revoked API key`);
    if (record.secret === undefined) {
      throw new HubbubError(ErrorCode.BadAuth, `key id "${name}" names an API key made before secrets were kept: create a new key to sign tokens`);
    }
    return { ...view(record), secret: record.secret };
  }

  /**
   * The active Pusher key (made with `--format pusher`) whose key id is `keyId`, with its secret: a
   * Pusher client names its app by the key id alone (`/app/{keyId}`). Undefined when there is none, it
   * is not a Pusher key (its id is no credential), it was revoked, only a hash of its secret is kept
   * (it cannot check signatures), or two apps' active Pusher keys share the id (which one is meant
   * cannot be told).
   */
  pusherKey(keyId: string): (VerifiedKey & { secret: string }) | undefined {
    const matches = this.load().filter((r) => r.keyId === keyId && r.pusher === true && !r.revokedAt);
    const record = matches.length === 1 ? matches[0] : undefined;
    if (record?.secret === undefined) return undefined;
    return { ...view(record), secret: record.secret };
  }

  /** Is `app.keyId` a key that exists and was not revoked? (Re-reads the file when it changed.) */
  isActive(name: string): boolean {
    const record = this.find(name);
    return record !== undefined && !record.revokedAt;
  }

  private find(name: string): ApiKeyRecord | undefined {
    const parsed = parseKeyName(name);
    return parsed ? this.load().find((r) => r.app === parsed.app && r.keyId === parsed.keyId) : undefined;
  }

  private load(): ApiKeyRecord[] {
    let mtime: number;
    try {
      mtime = statSync(this.file).mtimeMs;
    } catch {
      this.records = [];
      this.loadedMtime = -1;
      return this.records;
    }
    if (mtime !== this.loadedMtime) {
      this.records = JSON.parse(readFileSync(this.file, 'utf8')).keys as ApiKeyRecord[];
      this.loadedMtime = mtime;
    }
    return this.records;
  }

  private save(records: ApiKeyRecord[]): void {
    ensurePrivateDir(dirname(this.file));
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ keys: records }, null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
    this.records = records;
    this.loadedMtime = statSync(this.file).mtimeMs;
  }
}

function view(record: ApiKeyRecord): VerifiedKey {
  const out: VerifiedKey = { app: record.app, keyId: record.keyId, name: `${record.app}.${record.keyId}` };
  if (record.capability) out.capability = record.capability;
  if (record.secret !== undefined) out.secret = record.secret;
  return out;
}

/** Constant-time: both sides are hashed to the same length before comparing. */
function secretMatches(record: ApiKeyRecord, given: string): boolean {
  const expected = record.secret !== undefined ? sha256(record.secret) : record.secretSha256;
  if (expected === undefined) return false;
  const a = Buffer.from(sha256(given));
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
