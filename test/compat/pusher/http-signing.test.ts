/**
 * compat/pusher/request-signing.ts against the `pusher` SDK's own signer: what the SDK signs verifies,
 * the other readings Pusher backends produce (percent-encoded values) verify, and each way a request
 * can be wrong is refused with Pusher's status.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { HubbubError } from '@hubbub/protocol';
import { bodyMd5, pusherHmac, stringToSign, verifySignedRequest } from '../../../packages/server/src/compat/pusher/request-signing.js';

const require = createRequire(import.meta.url);
const { createSignedQueryString } = require('pusher/lib/requests.js') as {
  createSignedQueryString(token: unknown, request: { method: string; path: string; params?: Record<string, unknown>; body?: string }): string;
};
const Token = require('pusher/lib/token.js') as new (key: string, secret: string) => unknown;

const SECRET = 's3cret';
const PATH = '/apps/app1/channels';
const nowS = () => Math.floor(Date.now() / 1000);
const options = { secretOf: (key: string) => (key === 'k1' ? SECRET : unknownKey()), nowS: nowS(), windowS: 600 };

function unknownKey(): never {
  throw new HubbubError(40101, 'unknown key');
}

function sdkQuery(method: string, params?: Record<string, unknown>, body?: string): string {
  return createSignedQueryString(new Token('k1', SECRET), { method, path: PATH, params, body });
}

function statusOf(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    return (err as HubbubError).statusCode;
  }
  return 200;
}

describe('request signing', () => {
  it('verifies what the SDK signs, and hands back the decoded parameters', () => {
    const rawQuery = sdkQuery('GET', { filter_by_prefix: 'presence-', info: 'user_count' });
    const out = verifySignedRequest({ method: 'GET', rawPath: PATH, rawQuery, body: Buffer.alloc(0) }, options);
    expect(out.keyName).toBe('k1');
    expect(out.params.get('info')).toBe('user_count');
    expect(out.params.has('auth_signature')).toBe(false);
  });

  it('verifies a body with its body_md5', () => {
    const body = JSON.stringify({ name: 'e', data: '{}', channel: 'c' });
    const rawQuery = sdkQuery('POST', undefined, body);
    expect(statusOf(() => verifySignedRequest({ method: 'POST', rawPath: PATH, rawQuery, body: Buffer.from(body) }, options))).toBe(200);
  });

  it('signs lower-cased keys sorted by key, values as they read, auth_signature left out', () => {
    const params = new Map([['info', 'a,b'], ['auth_key', 'k1'], ['Z', 'x']].map(([k, v]) => [k.toLowerCase(), v] as [string, string]));
    expect(stringToSign('get', PATH, params)).toBe(`GET\n${PATH}\nauth_key=k1&info=a,b&z=x`);
  });

  it('accepts values sent percent-encoded and signed decoded (how other SDKs send them)', () => {
    const params = new Map([['auth_key', 'k1'], ['auth_timestamp', String(nowS())], ['auth_version', '1.0'], ['filter_by_prefix', 'a b,c']]);
    const signature = pusherHmac(SECRET, stringToSign('GET', PATH, params));
    const rawQuery = `${[...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}&auth_signature=${signature}`;
    const out = verifySignedRequest({ method: 'GET', rawPath: PATH, rawQuery, body: Buffer.alloc(0) }, options);
    expect(out.params.get('filter_by_prefix')).toBe('a b,c');
  });

  it('refuses: 401 for a missing signature, an unknown key, another auth_version, a timestamp from the future, a body without body_md5', () => {
    const ok = sdkQuery('GET');
    const check = (rawQuery: string, body = '') => statusOf(() => verifySignedRequest({ method: 'GET', rawPath: PATH, rawQuery, body: Buffer.from(body) }, options));
    expect(check(ok.replace(/&auth_signature=[0-9a-f]+/, ''))).toBe(401);
    expect(check(ok.replace('auth_key=k1', 'auth_key=k2'))).toBe(401);
    expect(check(ok.replace('auth_version=1.0', 'auth_version=2.0'))).toBe(401);
    expect(check(ok, 'a body')).toBe(401);
    const future = { ...options, nowS: nowS() - 601 };
    expect(statusOf(() => verifySignedRequest({ method: 'GET', rawPath: PATH, rawQuery: ok, body: Buffer.alloc(0) }, future))).toBe(401);
    expect(check(`${ok}&body_md5=${bodyMd5(Buffer.from('x'))}`)).toBe(401);
  });

  it('refuses a parameter given twice (400): which one was signed would be ambiguous', () => {
    expect(statusOf(() => verifySignedRequest({ method: 'GET', rawPath: PATH, rawQuery: `${sdkQuery('GET', { info: 'user_count' })}&info=subscription_count`, body: Buffer.alloc(0) }, options))).toBe(400);
  });
});
