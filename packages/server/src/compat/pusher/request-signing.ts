import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, HubbubError } from '@hubbub/protocol';

/**
 * Pusher's HTTP API request signing (auth_version 1.0). A backend signs
 * `METHOD\nPATH\nQUERY`, where QUERY is every query parameter but `auth_signature`, keys lower-cased,
 * sorted by key, written `key=value` (values not percent-encoded) and joined with `&`, with HMAC-SHA256
 * keyed by its secret; the hex digest travels as `auth_signature`. `body_md5` (hex MD5 of the body)
 * binds the body to the signature, `auth_timestamp` (Unix seconds) bounds how long a request replays.
 */

/** A request's line as it arrived, before anything was decoded: all the signature covers, `body_md5` included. */
export interface SignedQuery {
  method: string;
  /** The path as sent, still percent-encoded. */
  rawPath: string;
  /** The query string as sent, without `?`. */
  rawQuery: string;
}

/** A request as it arrived, body and all. */
export interface SignedRequest extends SignedQuery {
  body: Buffer;
}

export interface SigningOptions {
  /** The secret of the key `auth_key` names; throws (401) for an unknown or revoked key. */
  secretOf(keyName: string): string;
  /** Unix seconds now. */
  nowS: number;
  /** Largest distance between `auth_timestamp` and now, seconds. */
  windowS: number;
}

/** A request whose signature, timestamp and body checked out. */
export interface VerifiedRequest {
  /** `auth_key`. */
  keyName: string;
  /** Every query parameter (keys lower-cased) but `auth_signature`. */
  params: Map<string, string>;
}

/** The text a request's signature covers. `params` must not hold `auth_signature`. */
export function stringToSign(method: string, path: string, params: ReadonlyMap<string, string>): string {
  const query = [...params.keys()]
    .sort(byCodeUnit)
    .map((k) => `${k}=${params.get(k)}`)
    .join('&');
  return `${method.toUpperCase()}\n${path}\n${query}`;
}

/** Hex HMAC-SHA256 of `text` keyed by `secret`: an `auth_signature` (and a channel auth's signature part). */
export function pusherHmac(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('hex');
}

export function bodyMd5(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

/** Check a whole request: its query (`verifySignedQuery`), then its body against `body_md5`. */
export function verifySignedRequest(req: SignedRequest, options: SigningOptions): VerifiedRequest {
  const verified = verifySignedQuery(req, options);
  verifyBody(verified, req.body);
  return verified;
}

/**
 * Check what the request line alone decides: the parameters, the key, the signature, then the
 * timestamp. Everything a credential decides is in the query (the signature covers `body_md5`), so a
 * server can refuse before it reads a byte of the body. Once the signature holds, the timestamp is
 * the backend's own, so its error says what is wrong. Throws 401 (40101) for anything a credential
 * decides, 400 (40000) for a query that cannot be read.
 */
export function verifySignedQuery(req: SignedQuery, options: SigningOptions): VerifiedRequest {
  const pairs = queryPairs(req.rawQuery);
  const params = new Map<string, string>();
  let signature: string | undefined;
  for (const [rawKey, rawValue] of pairs) {
    const key = decodeOrRefuse(rawKey).toLowerCase();
    if (params.has(key) || (key === 'auth_signature' && signature !== undefined)) {
      throw new HubbubError(ErrorCode.BadFrame, `query parameter ${JSON.stringify(key)} is given twice`);
    }
    if (key === 'auth_signature') signature = decodeOrRefuse(rawValue);
    else params.set(key, rawValue);
  }
  const keyName = required(params, 'auth_key');
  const timestamp = required(params, 'auth_timestamp');
  const version = required(params, 'auth_version');
  if (signature === undefined) throw refused('missing auth_signature');
  if (version !== '1.0') throw refused(`auth_version ${JSON.stringify(version)} is not supported: use 1.0`);

  const secret = options.secretOf(keyName);
  if (!signatureMatches(req, pairs, secret, signature)) {
    throw refused('invalid signature: expected the hex HMAC-SHA256, keyed by the secret, of METHOD\\nPATH\\nQUERY (query keys lower-cased and sorted, auth_signature left out)');
  }
  const ts = Number(timestamp);
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(options.nowS - ts) > options.windowS) {
    throw refused(`auth_timestamp ${timestamp} is more than ${options.windowS} s from the server's time ${options.nowS}: check the backend's clock`);
  }

  const decoded = new Map<string, string>();
  for (const [k, v] of params) decoded.set(k, decodeOrRefuse(v));
  return { keyName: decoded.get('auth_key')!, params: decoded };
}

/** Refuse (401) a request with a body but no `body_md5`: before the body is read, from what it declares. */
export function assertBodyMd5Given(verified: VerifiedRequest, declaresBody: boolean): void {
  if (declaresBody && !verified.params.has('body_md5')) throw refused('a request with a body needs body_md5');
}

/** Check the body a verified query announced: `body_md5` must be given when there is one, and match. */
export function verifyBody(verified: VerifiedRequest, body: Buffer): void {
  const md5 = verified.params.get('body_md5');
  assertBodyMd5Given(verified, body.length > 0);
  if (md5 !== undefined && md5.toLowerCase() !== bodyMd5(body)) throw refused('body_md5 does not match the body');
}

/**
 * Does any reading of the request give the signature? Pusher's Node SDK signs the path and values as
 * it sends them (unencoded); other SDKs percent-encode what they send and sign the decoded text, and
 * form-style encoders write a space as `+`. Each reading is checked in constant time.
 */
function signatureMatches(req: SignedQuery, pairs: Array<[string, string]>, secret: string, signature: string): boolean {
  const paths = unique([decodeOrRefuse(req.rawPath), req.rawPath]);
  const readings = [readParams(pairs, false)];
  if (req.rawQuery.includes('+')) readings.push(readParams(pairs, true));
  const given = Buffer.from(signature, 'utf8');
  let ok = false;
  for (const path of paths) {
    for (const params of readings) {
      const want = Buffer.from(pusherHmac(secret, stringToSign(req.method, path, params)), 'utf8');
      // The expected length is fixed (64 hex digits); only a malformed signature differs, and says nothing.
      if (want.length === given.length && timingSafeEqual(want, given)) ok = true;
    }
  }
  return ok;
}

function readParams(pairs: Array<[string, string]>, plusIsSpace: boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of pairs) {
    const key = decodeOrRefuse(plusIsSpace ? k.replace(/\+/g, ' ') : k).toLowerCase();
    if (key === 'auth_signature') continue;
    out.set(key, decodeOrRefuse(plusIsSpace ? v.replace(/\+/g, ' ') : v));
  }
  return out;
}

function queryPairs(rawQuery: string): Array<[string, string]> {
  if (rawQuery === '') return [];
  return rawQuery.split('&').filter((p) => p !== '').map((part) => {
    const eq = part.indexOf('=');
    return eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
  });
}

function required(params: Map<string, string>, key: string): string {
  const raw = params.get(key);
  if (raw === undefined || raw === '') throw refused(`missing ${key}`);
  return decodeOrRefuse(raw);
}

function decodeOrRefuse(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HubbubError(ErrorCode.BadFrame, 'the query holds a malformed percent-encoding');
  }
}

function refused(message: string): HubbubError {
  return new HubbubError(ErrorCode.BadAuth, message, 401);
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
