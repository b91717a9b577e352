/**
 * REST publish rate limit: one token bucket per credential (an API key by name, a token by app and
 * client id), a batch counting as its members, 429 + 42900 + Retry-After past it, and a bounded map.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { MemoryEngine } from '../src/engine/memory.js';
import { HttpReply } from '../src/service/http.js';
import { RestApi } from '../src/service/rest.js';
import { CredentialRateLimiter } from '../src/service/rest-rate-limit.js';
import type { RestIdentity } from '../src/service/authenticate.js';
import type { TokenAuthority } from '../src/service/tokens.js';

describe('CredentialRateLimiter', () => {
  it('allows the burst at once, then says how long to wait', () => {
    const limiter = new CredentialRateLimiter({ ratePerSecond: 10, burst: 5 });
    for (let i = 0; i < 5; i++) expect(limiter.take('k', 1, 0)).toBe(0);
    expect(limiter.take('k', 1, 0)).toBe(100); // one token at 10/s
    expect(limiter.take('k', 1, 100)).toBe(0);
  });

  it('counts a batch as its members, and refuses it whole when the bucket holds fewer', () => {
    const limiter = new CredentialRateLimiter({ ratePerSecond: 10, burst: 5 });
    expect(limiter.take('k', 3, 0)).toBe(0);
    expect(limiter.take('k', 3, 0)).toBe(300); // 3 members need 300 ms at 10/s
    // The refused batch spent what it could take: the bucket is empty now.
    expect(limiter.take('k', 1, 0)).toBe(100);
    // Retrying before the wait is over spends again; waiting the whole answer is enough.
    expect(limiter.take('k', 3, 200)).toBe(300);
    expect(limiter.take('k', 3, 500)).toBe(0);
  });

  it('a batch larger than the burst can never pass', () => {
    const limiter = new CredentialRateLimiter({ ratePerSecond: 10, burst: 5 });
    expect(limiter.take('k', 6, 0)).toBe(Infinity);
    // and it spent nothing
    expect(limiter.take('k', 5, 0)).toBe(0);
  });

  it('keeps one bucket per credential', () => {
    const limiter = new CredentialRateLimiter({ ratePerSecond: 1, burst: 2 });
    expect(limiter.take('a', 2, 0)).toBe(0);
    expect(limiter.take('a', 1, 0)).toBeGreaterThan(0);
    expect(limiter.take('b', 2, 0)).toBe(0);
  });

  it('forgets buckets once idle long enough to be full again (nothing is lost by that)', () => {
    const limiter = new CredentialRateLimiter({ ratePerSecond: 10, burst: 5 });
    for (let i = 0; i < 50; i++) limiter.take(`k${i}`, 5, 0);
    expect(limiter.size).toBe(50);
    // 5 tokens at 10/s refill in 500 ms: at 499 ms none is full yet.
    limiter.take('late', 1, 499);
    expect(limiter.size).toBe(51);
    limiter.take('later', 1, 500);
    expect(limiter.size).toBe(2);
    expect(limiter.take('k0', 5, 500)).toBe(0);
  });

  it('holds at most maxCredentials buckets, dropping the one unused longest', () => {
    const limiter = new CredentialRateLimiter({ ratePerSecond: 1, burst: 1, maxCredentials: 3 });
    limiter.take('a', 1, 0);
    limiter.take('b', 1, 1);
    limiter.take('c', 1, 2);
    expect(limiter.take('a', 1, 3)).toBeGreaterThan(0); // a is used again: b is now the oldest
    limiter.take('d', 1, 4);
    expect(limiter.size).toBe(3);
    expect(limiter.take('a', 1, 5)).toBeGreaterThan(0); // a kept its (empty) bucket
    expect(limiter.take('c', 1, 5)).toBeGreaterThan(0); // c too
    expect(limiter.take('b', 1, 5)).toBe(0); // b was forgotten: a new, full bucket
  });
});

describe('RestApi.publish under the rate limit', () => {
  const engines: MemoryEngine[] = [];
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
  });

  async function api(ratePerSecond: number, burst: number): Promise<RestApi> {
    const engine = new MemoryEngine();
    await engine.start({ message: () => {}, presence: () => {} });
    engines.push(engine);
    return new RestApi({
      engine,
      tokens: {} as TokenAuthority,
      maxTokenTtlMs: 60_000,
      notify: () => {},
      publishLimit: new CredentialRateLimiter({ ratePerSecond, burst }),
      readLimit: new CredentialRateLimiter({ ratePerSecond, burst }),
      maxPageBytes: 256 * 1024,
    });
  }

  const viaKey = (keyName: string): RestIdentity => {
    const [app, keyId] = keyName.split('.');
    return { app, clientId: 'anon-x', viaKey: true, key: { app, keyId, name: keyName } };
  };
  const viaToken = (app: string, clientId: string): RestIdentity => ({ app, clientId, viaKey: false });

  function refusal(reply: unknown): { retryAfter: string | undefined; code: number } {
    expect(reply, 'a refused publish is an HTTP reply').toBeInstanceOf(HttpReply);
    const r = reply as HttpReply;
    expect(r.status).toBe(429);
    const body = r.body as { error: { code: number; statusCode: number; message: string } };
    expect(body.error.statusCode).toBe(429);
    expect(body.error.message).toMatch(/rate/);
    return { retryAfter: r.headers['retry-after'], code: body.error.code };
  }

  it('refuses past the burst with 429, 42900 and Retry-After; another key is unaffected', async () => {
    const rest = await api(1, 3);
    for (let i = 0; i < 3; i++) expect(await rest.publish(viaKey('app1.k1'), 'ch', { name: 'n', data: i })).toMatchObject({ duplicate: false });
    const refused = refusal(await rest.publish(viaKey('app1.k1'), 'ch', { name: 'n', data: 3 }));
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(refused.retryAfter).toBe('1');
    expect(await rest.publish(viaKey('app1.k2'), 'ch', { name: 'n' })).toMatchObject({ duplicate: false });
  });

  it('an array publish counts as its number of members', async () => {
    const rest = await api(1, 5);
    expect(await rest.publish(viaKey('app1.k1'), 'ch', [{ name: 'a' }, { name: 'b' }, { name: 'c' }])).toMatchObject({ duplicate: false });
    const refused = refusal(await rest.publish(viaKey('app1.k1'), 'ch', [{ name: 'a' }, { name: 'b' }, { name: 'c' }]));
    expect(refused.code).toBe(ErrorCode.RateLimited);
    expect(Number(refused.retryAfter)).toBe(3);
  });

  it('an array publish larger than the burst is 41300: waiting would not help', async () => {
    const rest = await api(1, 2);
    const err = await rest.publish(viaKey('app1.k1'), 'ch', [{ name: 'a' }, { name: 'b' }, { name: 'c' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubbubError);
    expect((err as HubbubError).code).toBe(ErrorCode.TooLarge);
    expect((err as HubbubError).message).toMatch(/--rest-publish-burst/);
  });

  it('tokens share a bucket per app and client id', async () => {
    const rest = await api(1, 2);
    await rest.publish(viaToken('app1', 'ann'), 'ch', { name: 'n' });
    await rest.publish(viaToken('app1', 'ann'), 'ch', { name: 'n' });
    refusal(await rest.publish(viaToken('app1', 'ann'), 'ch', { name: 'n' }));
    expect(await rest.publish(viaToken('app1', 'ben'), 'ch', { name: 'n' })).toMatchObject({ duplicate: false });
    expect(await rest.publish(viaToken('app2', 'ann'), 'ch', { name: 'n' })).toMatchObject({ duplicate: false });
  });

  it('a refused publish reaches nobody and is not kept', async () => {
    const rest = await api(1, 1);
    await rest.publish(viaKey('app1.k1'), 'ch', { name: 'kept' });
    refusal(await rest.publish(viaKey('app1.k1'), 'ch', { name: 'refused' }));
    const history = await rest.history(viaKey('app1.k2'), 'ch', new URLSearchParams());
    expect((history.body as Array<{ name: string }>).map((m) => m.name)).toEqual(['kept']);
  });
});
