import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verification of Hubbub webhooks (Node only), per Standard Webhooks
 * (https://www.standardwebhooks.com/).
 *
 * A request is authentic when `webhook-signature` holds a `v1,<base64>` entry equal to the
 * HMAC-SHA256, keyed with the decoded `whsec_…` secret, of `"<webhook-id>.<webhook-timestamp>.<raw body>"`,
 * and `webhook-timestamp` (Unix seconds) is close enough to the local clock.
 *
 * Verify the raw body exactly as received: JSON that was parsed and serialized again rarely has
 * the same bytes, and then the signature cannot match. With Express, for example, use
 * `express.raw({ type: 'application/json' })` on the webhook route, not `express.json()`.
 *
 * ```ts
 * const receiver = new WebhookReceiver(process.env.HUBBUB_WEBHOOK_SECRET!);
 * app.post('/hubbub', express.raw({ type: 'application/json' }), (req, res) => {
 *   try {
 *     const { event } = receiver.verify(req.body, req.headers);
 *     handle(event);
 *   } catch (err) {
 *     if (err instanceof WebhookVerificationError && err.code === 'replayed') return res.sendStatus(200);
 *     return res.sendStatus(400);
 *   }
 *   res.sendStatus(204);
 * });
 * ```
 */

/** Why a webhook was refused. */
export type WebhookVerificationErrorCode =
  /** The secret is not `whsec_` followed by base64. */
  | 'bad_secret'
  /** `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent or empty. */
  | 'missing_headers'
  /** A webhook header is malformed: the timestamp is not whole seconds, or id/timestamp appear twice. */
  | 'bad_headers'
  /** The timestamp is further than the tolerance from the local clock, in the past or the future. */
  | 'timestamp_out_of_tolerance'
  /** No `v1` signature matches: wrong secret, altered id/timestamp/body, or no `v1` entry at all. */
  | 'bad_signature'
  /** This receiver already accepted a request with this `webhook-id` within the tolerance window. */
  | 'replayed'
  /** The body is not a string or bytes, or, though authentic, not UTF-8 JSON. */
  | 'bad_body';

/** Thrown when a webhook must not be trusted. `code` says why; answer 400 (or 401) to the sender. */
export class WebhookVerificationError extends Error {
  readonly code: WebhookVerificationErrorCode;

  constructor(code: WebhookVerificationErrorCode, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

/** The raw request body: the exact bytes received, or the string they decode to. */
export type WebhookBody = string | Uint8Array | ArrayBuffer;

/**
 * Request headers: a `Headers` instance (fetch), or a plain object such as Node's
 * `req.headers`, with header names in any case and values as strings or arrays of strings.
 */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** Largest accepted distance between `webhook-timestamp` and the local clock, either way. Default 300. */
  toleranceSeconds?: number;
  /** The clock, in Unix ms. Default `Date.now`; meant for tests. */
  now?: () => number;
}

export type WebhookReceiverOptions = VerifyWebhookOptions;

/** A verified webhook. `id` is stable across the sender's retries: use it as an idempotency key. */
export interface VerifiedWebhook<T = unknown> {
  /** The parsed JSON body. */
  event: T;
  /** The `webhook-id` header. */
  id: string;
  /** The `webhook-timestamp` header: when this delivery attempt was signed, in Unix seconds. */
  timestamp: number;
}

const DEFAULT_TOLERANCE_SECONDS = 300;
const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const SWEEP_INTERVAL_MS = 1_000;

/**
 * Verifies webhooks for one endpoint secret and refuses replays: it remembers each `webhook-id`
 * it accepted until a request carrying it could no longer pass the timestamp check.
 *
 * The memory is this object's, in this process. Behind a load balancer with several processes,
 * a replay reaching another process is not detected, so also make handlers idempotent on `id`.
 * A `replayed` error means the event was accepted before: answer 2xx so that the sender stops
 * retrying (a sender retries with the same id when it missed the first answer).
 */
export class WebhookReceiver {
  private readonly key: Buffer;
  private readonly toleranceSeconds: number;
  private readonly now: () => number;
  /** Accepted ids → Unix ms after which a request with that id fails the timestamp check anyway. */
  private readonly seen = new Map<string, number>();
  private nextSweepAt = 0;

  /** @throws WebhookVerificationError (`bad_secret`) when the secret is malformed. */
  constructor(secret: string, options: WebhookReceiverOptions = {}) {
    this.key = decodeSecret(secret);
    this.toleranceSeconds = checkTolerance(options.toleranceSeconds);
    this.now = options.now ?? Date.now;
  }

  /**
   * The event of an authentic, fresh, first-seen webhook.
   * @throws WebhookVerificationError otherwise.
   */
  verify<T = unknown>(rawBody: WebhookBody, headers: WebhookHeaders): VerifiedWebhook<T> {
    const now = this.now();
    this.sweep(now);
    const checked = check(this.key, this.toleranceSeconds, now, rawBody, headers);
    const expiresAt = this.seen.get(checked.id);
    if (expiresAt !== undefined && expiresAt >= now) {
      throw new WebhookVerificationError('replayed', `webhook ${JSON.stringify(checked.id)} was already accepted (replayed or redelivered)`);
    }
    const event = parseBody<T>(checked.bytes);
    this.seen.set(checked.id, Math.max(checked.timestamp * 1000, now) + this.toleranceSeconds * 1000);
    return { event, id: checked.id, timestamp: checked.timestamp };
  }

  private sweep(now: number): void {
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + SWEEP_INTERVAL_MS;
    for (const [id, expiresAt] of this.seen) if (expiresAt < now) this.seen.delete(id);
  }
}

/**
 * The event of an authentic, fresh webhook.
 *
 * Stateless, so it cannot tell a replay from the first delivery: an attacker who captured a
 * request can resend it, unchanged, for as long as its timestamp is within the tolerance. Use a
 * long-lived {@link WebhookReceiver} to refuse replays, or deduplicate on the returned `id`.
 *
 * @throws WebhookVerificationError when the secret, headers, signature, timestamp or body is bad.
 */
export function verifyWebhook<T = unknown>(
  secret: string,
  rawBody: WebhookBody,
  headers: WebhookHeaders,
  options: VerifyWebhookOptions = {},
): VerifiedWebhook<T> {
  const key = decodeSecret(secret);
  const tolerance = checkTolerance(options.toleranceSeconds);
  const checked = check(key, tolerance, (options.now ?? Date.now)(), rawBody, headers);
  return { event: parseBody<T>(checked.bytes), id: checked.id, timestamp: checked.timestamp };
}

interface Checked {
  id: string;
  timestamp: number;
  bytes: Uint8Array;
}

/** Headers, timestamp and signature; everything but replay and body parsing. */
function check(key: Buffer, toleranceSeconds: number, now: number, rawBody: WebhookBody, headers: WebhookHeaders): Checked {
  const bytes = bodyBytes(rawBody);
  const id = singleHeader(headers, 'webhook-id');
  const timestampText = singleHeader(headers, 'webhook-timestamp');
  const signatures = headerValues(headers, 'webhook-signature').join(' ').trim();
  const missing = [
    id === undefined ? 'webhook-id' : undefined,
    timestampText === undefined ? 'webhook-timestamp' : undefined,
    signatures === '' ? 'webhook-signature' : undefined,
  ].filter((name) => name !== undefined);
  if (id === undefined || timestampText === undefined || missing.length > 0) {
    throw new WebhookVerificationError('missing_headers', `missing webhook header${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
  }

  if (!/^\d{1,15}$/.test(timestampText)) {
    throw new WebhookVerificationError('bad_headers', `webhook-timestamp must be whole Unix seconds, got ${JSON.stringify(timestampText)}`);
  }
  const timestamp = Number(timestampText);
  const skew = now / 1000 - timestamp;
  if (Math.abs(skew) > toleranceSeconds) {
    const way = skew > 0 ? `${Math.round(skew)}s old` : `${Math.round(-skew)}s in the future`;
    throw new WebhookVerificationError(
      'timestamp_out_of_tolerance',
      `webhook-timestamp is ${way}; the tolerance is ${toleranceSeconds}s (is a clock wrong, or is this a replay?)`,
    );
  }

  const expected = createHmac('sha256', key).update(`${id}.${timestampText}.`, 'utf8').update(bytes).digest();
  const versions = new Set<string>();
  let matched = false;
  for (const token of signatures.split(/\s+/)) {
    // Headers joined by fetch or Node (", ") leave a trailing comma; base64 never ends in one.
    const entry = token.replace(/,+$/, '');
    const comma = entry.indexOf(',');
    if (comma <= 0) continue;
    const version = entry.slice(0, comma);
    versions.add(version);
    if (version !== 'v1') continue;
    const candidate = Buffer.from(entry.slice(comma + 1), 'base64');
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  if (!matched) {
    const detail = versions.has('v1')
      ? 'no v1 signature matches (wrong secret, or the id, timestamp or body was altered in transit or parsed and re-serialized)'
      : `webhook-signature has no v1 signature${versions.size > 0 ? ` (found ${[...versions].join(', ')})` : ''}`;
    throw new WebhookVerificationError('bad_signature', detail);
  }
  return { id, timestamp, bytes };
}

function decodeSecret(secret: string): Buffer {
  if (typeof secret !== 'string') throw new WebhookVerificationError('bad_secret', 'webhook secret must be a string ("whsec_…")');
  const trimmed = secret.trim();
  const encoded = trimmed.startsWith(SECRET_PREFIX) ? trimmed.slice(SECRET_PREFIX.length) : trimmed;
  const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
  if (key.length === 0) {
    throw new WebhookVerificationError('bad_secret', 'webhook secret must be "whsec_" followed by base64, as shown for the endpoint');
  }
  return key;
}

function checkTolerance(toleranceSeconds: number | undefined): number {
  if (toleranceSeconds === undefined) return DEFAULT_TOLERANCE_SECONDS;
  if (typeof toleranceSeconds !== 'number' || !Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new TypeError(`toleranceSeconds must be a finite number >= 0, got ${String(toleranceSeconds)}`);
  }
  return toleranceSeconds;
}

function bodyBytes(rawBody: WebhookBody): Uint8Array {
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  if (rawBody instanceof Uint8Array) return rawBody;
  if (rawBody instanceof ArrayBuffer) return new Uint8Array(rawBody);
  throw new WebhookVerificationError(
    'bad_body',
    `rawBody must be the raw request body (string, Buffer or Uint8Array), got ${rawBody === null ? 'null' : typeof rawBody}; ` +
      'a body already parsed as JSON cannot be verified',
  );
}

function parseBody<T>(bytes: Uint8Array): T {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new WebhookVerificationError('bad_body', 'webhook body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new WebhookVerificationError('bad_body', `webhook body is not JSON: ${(err as Error).message}`);
  }
}

/** Every value of a header, whatever the case of its name; empty values dropped. */
function headerValues(headers: WebhookHeaders, name: string): string[] {
  if (headers === null || typeof headers !== 'object') return [];
  if (typeof (headers as { get?: unknown }).get === 'function') {
    const value = (headers as { get(name: string): string | null }).get(name);
    return value ? [value] : [];
  }
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() !== name) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === 'string' && v.trim() !== '') values.push(v.trim());
    }
  }
  return values;
}

/** The one value of a header; undefined when absent; refused when given twice, differently. */
function singleHeader(headers: WebhookHeaders, name: string): string | undefined {
  const values = [...new Set(headerValues(headers, name))];
  if (values.length > 1) throw new WebhookVerificationError('bad_headers', `${name} appears more than once, with different values`);
  return values[0];
}
