import { createHmac, randomBytes } from 'node:crypto';

/**
 * Signing of outgoing webhooks, per Standard Webhooks (https://www.standardwebhooks.com/).
 *
 * Each request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`:
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. The HMAC key is the base64 part of the
 * endpoint's `whsec_…` secret, decoded. The receiving side lives in @hubbub/client (Node entry).
 */

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** A fresh endpoint secret: `whsec_` and 24 random bytes in base64 (the spec's minimum size). */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

/**
 * The `webhook-signature` header value for one delivery. `body` must be the exact string sent.
 * Pass several secrets while rotating (new one first): the value then holds one `v1,…` entry per
 * secret, separated by spaces, and a receiver that knows any of them accepts the request.
 */
export function signWebhook(secret: string | readonly string[], id: string, timestampSeconds: number, body: string): string {
  checkId(id);
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new TypeError(`webhook timestamp must be whole Unix seconds, got ${timestampSeconds}`);
  }
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new TypeError('signWebhook needs at least one secret');
  const signed = `${id}.${timestampSeconds}.${body}`;
  return secrets.map((s) => 'v1,' + createHmac('sha256', webhookKey(s)).update(signed, 'utf8').digest('base64')).join(' ');
}

/** All headers of one delivery of `body` (JSON), timestamped `now` (Unix ms). */
export function webhookHeaders(
  secret: string | readonly string[],
  id: string,
  body: string,
  now: number = Date.now(),
): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

/** The HMAC key of a `whsec_<base64>` secret (a bare base64 string is accepted too). */
function webhookKey(secret: string): Buffer {
  const trimmed = secret.trim();
  const encoded = trimmed.startsWith(SECRET_PREFIX) ? trimmed.slice(SECRET_PREFIX.length) : trimmed;
  const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
  if (key.length === 0) throw new TypeError('webhook secret must be "whsec_" followed by base64 (see generateWebhookSecret)');
  return key;
}

/**
 * The id is the receiver's idempotency key and is part of the signed text, so it must be
 * non-empty, contain no `.` (the separator of the signed text) and be a valid header value.
 */
function checkId(id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('webhook id must be a non-empty string');
  if (id.includes('.')) throw new TypeError(`webhook id must not contain ".": ${JSON.stringify(id)}`);
  if (/[^\x21-\x7e]/.test(id)) throw new TypeError(`webhook id must be printable ASCII without spaces: ${JSON.stringify(id)}`);
}
