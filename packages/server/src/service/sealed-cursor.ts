import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { ErrorCode, HubbubError } from '@hubbub/protocol';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Paging cursors a client can hand back but not read: AES-256-GCM over the position, bound to the app
 * it was given to. A cursor may hold what the client may not see (the last name a page scanned can be
 * one its capability hides), so a readable one would leak it. The key is derived from the signing key,
 * so every node of a deployment opens the cursors of the others.
 */
export class SealedCursor {
  private readonly key: Buffer;

  constructor(secret: string | Uint8Array) {
    this.key = createHmac('sha256', secret).update('hubbub paging cursors v1').digest();
  }

  seal(app: string, position: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(app));
    const body = Buffer.concat([cipher.update(position, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The position a cursor of this app holds; 40001 for anything this deployment did not give that app. */
  open(app: string, cursor: string): string {
    const raw = Buffer.from(cursor, 'base64url');
    if (cursor.length > 1000 || raw.length < IV_BYTES + TAG_BYTES) throw notOurs();
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES)).setAAD(Buffer.from(app));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw notOurs();
    }
  }
}

function notOurs(): HubbubError {
  return new HubbubError(ErrorCode.BadFrame, '"cursor" is not one this server gave: pass the "next" of the previous page');
}
