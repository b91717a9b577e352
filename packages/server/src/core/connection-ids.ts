import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Starts every connection id this process gives, so a resume from another process is recognised. */
const PROCESS_PREFIX = randomBytes(3).toString('base64url');
const NONCE_BYTES = 9;
const MAC_BYTES = 8;
/** base64url lengths of the parts: prefix 4, nonce 12, mac 11. */
const NONCE_CHARS = PROCESS_PREFIX.length + Math.ceil((NONCE_BYTES * 4) / 3);
const ID_CHARS = NONCE_CHARS + Math.ceil((MAC_BYTES * 4) / 3);

/** Has `id` the shape of a connection id (its length, base64url)? Says nothing of who issued it. */
export function isConnectionIdShape(id: string): boolean {
  return id.length === ID_CHARS && /^[A-Za-z0-9_-]+$/.test(id);
}

/**
 * Connection ids a client may resume (`resumeConnectionId`): each carries a MAC over the app and client
 * id it was issued to, keyed by a secret every node of a deployment shares (derived from the signing
 * key), so any node can tell an id it could have issued from one a client made up or took from another
 * client — without asking the others.
 */
export class ConnectionIds {
  private readonly key: Buffer;

  constructor(secret: string | Uint8Array) {
    this.key = createHmac('sha256', secret).update('hubbub connection ids v1').digest();
  }

  issue(app: string, clientId: string): string {
    const nonce = PROCESS_PREFIX + randomBytes(NONCE_BYTES).toString('base64url');
    return nonce + this.mac(nonce, app, clientId).toString('base64url');
  }

  /** Was `id` issued (by any node of this deployment) to this app and client? */
  issuedTo(id: string, app: string, clientId: string): boolean {
    if (!isConnectionIdShape(id)) return false;
    const given = Buffer.from(id.slice(NONCE_CHARS), 'base64url');
    return given.length === MAC_BYTES && timingSafeEqual(given, this.mac(id.slice(0, NONCE_CHARS), app, clientId));
  }

  /** Issued by this very process (as opposed to one before a restart, or another node). */
  fromThisProcess(id: string): boolean {
    return id.startsWith(PROCESS_PREFIX);
  }

  private mac(nonce: string, app: string, clientId: string): Buffer {
    return createHmac('sha256', this.key).update(`${app}\n${clientId}\n${nonce}`).digest().subarray(0, MAC_BYTES);
  }
}

/** For contexts built without a deployment secret (tests, embedders): ids resumable within this process only. */
export const processConnectionIds = new ConnectionIds(randomBytes(32));
