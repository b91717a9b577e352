import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCode, HubbubError, isValidAppId, type Capability } from '@hubbub/protocol';

/** A stored API key. Only a hash of the secret is kept: the secret is shown once, at creation. */
export interface ApiKeyRecord {
  app: string;
  keyId: string;
  secretSha256: string;
  capability?: Capability;
  createdAt: string;
  revokedAt?: string;
}

export interface VerifiedKey {
  app: string;
  keyId: string;
  capability?: Capability;
}

/**
 * API keys `app.keyId:secret`, kept in a JSON file in the data dir. The server re-reads the
 * file when it changes, so `hubbub keys create` and `keys revoke` take effect without a restart.
 */
export class KeyStore {
  private records: ApiKeyRecord[] = [];
  private loadedMtime = -1;

  constructor(private readonly file: string) {}

  create(app: string, capability?: Capability): { key: string; record: ApiKeyRecord } {
    if (!isValidAppId(app)) throw new HubbubError(ErrorCode.BadFrame, 'app must be 1-64 of [A-Za-z0-9_-]');
    const keyId = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x');
    const secret = randomBytes(24).toString('base64url');
    const record: ApiKeyRecord = { app, keyId, secretSha256: sha256(secret), createdAt: new Date().toISOString() };
    if (capability) record.capability = capability;
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

  /** Check `app.keyId:secret`; throws 40101 for an unknown, revoked or wrong key. */
  verify(key: string): VerifiedKey {
    const match = /^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,64}):(.+)$/.exec(key);
    const record = match && this.load().find((r) => r.app === match[1] && r.keyId === match[2]);
    if (!match || !record || record.revokedAt || !sameHash(sha256(match[3]), record.secretSha256)) {
      throw new HubbubError(ErrorCode.BadAuth, 'invalid or revoked API key');
    }
    return { app: record.app, keyId: record.keyId, ...(record.capability ? { capability: record.capability } : {}) };
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
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ keys: records }, null, 2), { mode: 0o600 });
    renameSync(tmp, this.file);
    this.records = records;
    this.loadedMtime = statSync(this.file).mtimeMs;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
