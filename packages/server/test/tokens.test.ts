/**
 * Token verification: Hubbub's own server-signed tokens, and tokens in Foony's `createJwt` format
 * (HS256, `kid` = API key name, signed with the key's secret, `cap` as JSON text), built by hand
 * with node:crypto exactly as the SDK builds them.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubbubError } from '@hubbub/protocol';
import { KeyStore, type ApiKeyRecord } from '../src/service/keys.js';
import { AuthFailure, TokenAuthority } from '../src/service/tokens.js';

const SIGNING_KEY = 'unit-signing-key-0123456789abcdef';
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
afterEach(() => vi.useRealTimers());

/** A key store file written by hand (any records, including ones from older versions). */
function storeWith(records: ApiKeyRecord[]): KeyStore {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-tokens-'));
  dirs.push(dir);
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify({ keys: records }), { mode: 0o600 });
  return new KeyStore(file);
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);

/** What Foony's `createJwt({ clientId, capability, ttlMs }, { key })` produces, byte for byte. */
function createJwt(key: string, clientId: unknown, capability: unknown, opts: { ttlMs?: number; iat?: number; alg?: string; extra?: Record<string, unknown> } = {}): string {
  const colon = key.indexOf(':');
  const [kid, secret] = [key.slice(0, colon), key.slice(colon + 1)];
  const iat = opts.iat ?? nowS();
  const header = { alg: opts.alg ?? 'HS256', typ: 'JWT', kid };
  const payload = { sub: clientId, cap: typeof capability === 'string' ? capability : JSON.stringify(capability), iat, exp: iat + Math.ceil((opts.ttlMs ?? 3_600_000) / 1000), ...opts.extra };
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function refusal(p: Promise<unknown>): Promise<HubbubError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(HubbubError);
    return err as HubbubError;
  }
  throw new Error('expected the token to be refused');
}

const KEY = 'myapp.k1:s3cret';
const record = (extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({ app: 'myapp', keyId: 'k1', secret: 's3cret', createdAt: '2024-01-01T00:00:00Z', ...extra });

describe('tokens signed with an API key (kid)', () => {
  let tokens: TokenAuthority;
  beforeEach(() => {
    tokens = new TokenAuthority(SIGNING_KEY, storeWith([record(), record({ keyId: 'narrow', secret: 'n4rrow', capability: { 'chat:*': ['subscribe', 'publish'] } })]));
  });

  it('verifies the worked example of the wire notes (fixed clock)', async () => {
    vi.useFakeTimers({ now: 1719772800123, toFake: ['Date'] });
    const token =
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Im15YXBwLmsxIn0' +
      '.eyJzdWIiOiJhbGljZSIsImNhcCI6IntcImNoYXQ6KlwiOltcInN1YnNjcmliZVwiLFwicHVibGlzaFwiXX0iLCJpYXQiOjE3MTk3NzI4MDAsImV4cCI6MTcxOTc3NjQwMH0' +
      '.2wjS8mDIehbJZ9sMBROVuAYCMSBXFec8vsRl5EjR-u8';
    expect(createJwt(KEY, 'alice', { 'chat:*': ['subscribe', 'publish'] })).toBe(token);
    expect(await tokens.verify(token)).toEqual({
      app: 'myapp',
      clientId: 'alice',
      capability: { 'chat:*': ['subscribe', 'publish'] },
      expiresAt: 1719776400000,
      // The key that signed it: revoking the key ends sessions authenticated with the token.
      keyName: 'myapp.k1',
    });
  });

  it('takes the app from the key, and the capability from `cap` given as JSON text or as an object', async () => {
    const cap = { 'chat:*': ['subscribe'] };
    expect(await tokens.verify(createJwt(KEY, 'bob', JSON.stringify(cap)))).toMatchObject({ app: 'myapp', clientId: 'bob', capability: cap });
    const asObject = createJwt(KEY, 'bob', cap, { extra: { cap } });
    expect(await tokens.verify(asObject)).toMatchObject({ capability: cap });
  });

  it('accepts operation names it does not know (history, and others)', async () => {
    const cap = { 'chat:*': ['subscribe', 'history', 'channel-metadata'] };
    expect((await tokens.verify(createJwt(KEY, 'bob', cap))).capability).toEqual(cap);
  });

  it('refuses a token naming an unknown key, or signed with another secret, with 40101', async () => {
    for (const key of ['myapp.nope:s3cret', 'other.k1:s3cret', 'myapp.k1:wrong']) {
      const err = await refusal(tokens.verify(createJwt(key, 'bob', {})));
      expect([err.code, err.statusCode], key).toEqual([40101, 401]);
    }
    const kidNotString = `${b64({ alg: 'HS256', typ: 'JWT', kid: 5 })}.${b64({ sub: 'b', exp: nowS() + 60 })}.x`;
    expect((await refusal(tokens.verify(kidNotString))).code).toBe(40101);
  });

  it('refuses a token of a revoked key with 40101', async () => {
    const revoked = new TokenAuthority(SIGNING_KEY, storeWith([record({ revokedAt: '2024-02-01T00:00:00Z' })]));
    const err = await refusal(revoked.verify(createJwt(KEY, 'bob', {})));
    expect(err.code).toBe(40101);
    expect(err.message).toContain('revoked');
  });

  it('refuses a token of a key kept only as a hash (older key files) with 40101', async () => {
    const legacy = new TokenAuthority(SIGNING_KEY, storeWith([{ app: 'myapp', keyId: 'k1', secretSha256: 'ab'.repeat(32), createdAt: '2024-01-01T00:00:00Z' }]));
    expect((await refusal(legacy.verify(createJwt(KEY, 'bob', {})))).code).toBe(40101);
  });

  it('refuses a capability wider than the key with 40101 (not 40301: the SDK would retry forever)', async () => {
    const narrow = 'myapp.narrow:n4rrow';
    expect((await tokens.verify(createJwt(narrow, 'bob', { 'chat:lobby': ['subscribe'] }))).capability).toEqual({ 'chat:lobby': ['subscribe'] });
    expect((await tokens.verify(createJwt(narrow, 'bob', { 'chat:lobby': ['history'] }))).capability).toEqual({ 'chat:lobby': ['history'] });
    for (const cap of [{ '*': ['subscribe'] }, { 'chat:*': ['presence'] }, { 'chat:*': ['*'] }, { admin: ['subscribe'] }, { 'chat:*': ['launch'] }]) {
      const err = await refusal(tokens.verify(createJwt(narrow, 'bob', cap)));
      expect(err.code, JSON.stringify(cap)).toBe(40101);
    }
  });

  it('a token without `cap` gets its key capability', async () => {
    const header = { alg: 'HS256', typ: 'JWT', kid: 'myapp.narrow' };
    const input = `${b64(header)}.${b64({ sub: 'bob', iat: nowS(), exp: nowS() + 60 })}`;
    const token = `${input}.${createHmac('sha256', 'n4rrow').update(input).digest('base64url')}`;
    expect((await tokens.verify(token)).capability).toEqual({ 'chat:*': ['subscribe', 'publish'] });
  });

  it('an expired token gets 40102; a few seconds of clock skew are forgiven', async () => {
    const expired = await refusal(tokens.verify(createJwt(KEY, 'bob', {}, { iat: nowS() - 3600, ttlMs: 3_590_000 })));
    expect([expired.code, expired.statusCode]).toEqual([40102, 401]);
    await expect(tokens.verify(createJwt(KEY, 'bob', {}, { iat: nowS() - 62, ttlMs: 60_000 }))).resolves.toMatchObject({ clientId: 'bob' });
  });

  it.each<[string, unknown, unknown, Record<string, unknown>?]>([
    ['no sub', undefined, {}],
    ['an empty sub', '', {}],
    ['a sub that is not a string', 42, {}],
    ['cap that is not JSON', 'bob', '{"chat:*":'],
    ['cap of the wrong shape', 'bob', '["subscribe"]'],
    ['cap with a non-string operation', 'bob', { chat: [1] }],
    ['an app claim of another app', 'bob', {}, { app: 'other' }],
    ['no exp', 'bob', {}, { exp: undefined }],
  ])('refuses %s with 40101', async (_label, sub, cap, extra) => {
    const err = await refusal(tokens.verify(createJwt(KEY, sub, cap, { extra })));
    expect(err.code).toBe(40101);
  });

  it('keeps the algorithm allow-list: HS384/HS512 with the key secret and alg none are refused', async () => {
    for (const alg of ['HS384', 'HS512', 'none', 'hs256']) {
      const header = { alg, typ: 'JWT', kid: 'myapp.k1' };
      const input = `${b64(header)}.${b64({ sub: 'bob', cap: '{}', iat: nowS(), exp: nowS() + 60 })}`;
      const mac = alg === 'none' ? '' : createHmac(alg === 'HS512' ? 'sha512' : alg === 'HS384' ? 'sha384' : 'sha256', 's3cret').update(input).digest('base64url');
      expect((await refusal(tokens.verify(`${input}.${mac}`))).code, alg).toBe(40101);
    }
  });

  it('a kid token cannot be verified with the server signing key instead, nor the other way round', async () => {
    const header = { alg: 'HS256', typ: 'JWT', kid: 'myapp.k1' };
    const input = `${b64(header)}.${b64({ sub: 'bob', app: 'myapp', iat: nowS(), exp: nowS() + 60 })}`;
    const serverSigned = `${input}.${createHmac('sha256', SIGNING_KEY).update(input).digest('base64url')}`;
    expect((await refusal(tokens.verify(serverSigned))).code).toBe(40101);
    const noKid = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'bob', app: 'myapp', iat: nowS(), exp: nowS() + 60 })}`;
    expect((await refusal(tokens.verify(`${noKid}.${createHmac('sha256', 's3cret').update(noKid).digest('base64url')}`))).code).toBe(40101);
  });

  it('without a key store (the CLI), kid tokens are refused with 40101', async () => {
    expect((await refusal(new TokenAuthority(SIGNING_KEY).verify(createJwt(KEY, 'bob', {})))).code).toBe(40101);
  });
});

describe('tokens minted for a key (requestToken)', () => {
  it('are in the createJwt format and verify as the key app', async () => {
    const store = storeWith([record({ capability: { 'chat:*': ['subscribe', 'publish'] } })]);
    const tokens = new TokenAuthority(SIGNING_KEY, store);
    const minted = await tokens.mintForKey(store.byName('myapp.k1'), 'kim', 90_500, { 'chat:lobby': ['subscribe'] });
    const [h, p] = minted.token.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()) as Record<string, unknown>);
    expect(h).toEqual({ alg: 'HS256', typ: 'JWT', kid: 'myapp.k1' });
    expect(p).toEqual({ sub: 'kim', cap: '{"chat:lobby":["subscribe"]}', iat: minted.issued / 1000, exp: minted.expires / 1000 });
    expect(minted.expires - minted.issued).toBe(91_000);
    expect(minted.capability).toBe('{"chat:lobby":["subscribe"]}');
    expect(await tokens.verify(minted.token)).toMatchObject({ app: 'myapp', clientId: 'kim', capability: { 'chat:lobby': ['subscribe'] } });
  });

  it("default to the key's capability, or everything for a key without one", async () => {
    const store = storeWith([record()]);
    const minted = await new TokenAuthority(SIGNING_KEY, store).mintForKey(store.byName('myapp.k1'), 'kim', 60_000);
    expect(minted.capability).toBe('{"*":["*"]}');
  });
});

describe("the server's own tokens (no kid) still work", () => {
  it('mint → verify keeps app, client, capability and expiry', async () => {
    const tokens = new TokenAuthority(SIGNING_KEY, storeWith([record()]));
    const { token, expiresAt } = await tokens.mint({ app: 'foony', clientId: 'alice', ttlMs: 60_000, capability: { 'chat:*': ['history'] } });
    expect(await tokens.verify(token)).toEqual({ app: 'foony', clientId: 'alice', capability: { 'chat:*': ['history'] }, expiresAt });
  });

  it('stay strict about operation names in their `capability` claim', async () => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ app: 'foony', sub: 'a', exp: nowS() + 60, capability: { '*': ['launch'] } })}`;
    const token = `${input}.${createHmac('sha256', SIGNING_KEY).update(input).digest('base64url')}`;
    expect((await refusal(new TokenAuthority(SIGNING_KEY).verify(token))).code).toBe(40101);
  });
});

describe('only the canonical compact form is accepted', () => {
  const tokens = new TokenAuthority(SIGNING_KEY);
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  /** The same bytes spelled with another value in the unused low bits of the last character. */
  function otherLowBits(part: string): string {
    expect([2, 3], `${part} has unused bits`).toContain(part.length % 4);
    return part.slice(0, -1) + ALPHABET[ALPHABET.indexOf(part.at(-1)!) ^ 1];
  }
  /** A server token whose three parts all end in a character with unused bits (28-byte header). */
  function handmade(n = 1): string {
    const input = `${Buffer.from('{"alg":"HS256","typ":"JWT" }').toString('base64url')}.${b64({ app: 'foony', sub: 'alice', exp: nowS() + 60, n })}`;
    return `${input}.${createHmac('sha256', SIGNING_KEY).update(input).digest('base64url')}`;
  }

  it('accepts canonical tokens, minted or made by hand', async () => {
    const { token } = await tokens.mint({ app: 'foony', clientId: 'alice', ttlMs: 60_000 });
    await expect(tokens.verify(token)).resolves.toMatchObject({ clientId: 'alice' });
    await expect(tokens.verify(handmade())).resolves.toMatchObject({ clientId: 'alice' });
  });

  it('the respelled parts decode to the very same bytes', () => {
    for (const part of handmade().split('.').filter((p) => p.length % 4 > 1)) {
      expect(otherLowBits(part)).not.toBe(part);
      expect(Buffer.from(otherLowBits(part), 'base64url').equals(Buffer.from(part, 'base64url'))).toBe(true);
    }
  });

  it.each<[string, (p: string[]) => string[]]>([
    ['padding on the signature', (p) => [p[0], p[1], `${p[2]}=`]],
    ['padding on the header', (p) => [`${p[0]}==`, p[1], p[2]]],
    ['other unused low bits in the signature', (p) => [p[0], p[1], otherLowBits(p[2])]],
    ['other unused low bits in the header', (p) => [otherLowBits(p[0]), p[1], p[2]]],
    ['standard base64 characters', (p) => [p[0], p[1], p[2].replace(/-/g, '+').replace(/_/g, '/')]],
    ['a fourth part', (p) => [...p, '']],
    ['whitespace', (p) => [p[0], p[1], ` ${p[2]}`]],
  ])('refuses %s with 40101 "malformed token"', async (_label, respell) => {
    let token = handmade();
    // The signature must hold a character that standard base64 spells differently.
    for (let n = 2; !/[-_]/.test(token.split('.')[2]); n++) token = handmade(n);
    const changed = respell(token.split('.')).join('.');
    expect(changed).not.toBe(token);
    const err = await refusal(tokens.verify(changed));
    expect([err.code, err.message]).toEqual([40101, expect.stringMatching(/^malformed token/)]);
    expect((err as AuthFailure).details.reason).toBe('malformed');
  });
});

describe('a refusal says which check failed, and carries what to log (never sent to the client)', () => {
  const store = () => storeWith([record()]);

  it('bad signature: a token from another signing key', async () => {
    const other = await new TokenAuthority('another-signing-key-0123456789').mint({ app: 'foony', clientId: 'alice', ttlMs: 60_000 });
    const err = await refusal(new TokenAuthority(SIGNING_KEY, store()).verify(other.token));
    expect(err).toBeInstanceOf(AuthFailure);
    expect(err.code).toBe(40101);
    expect(err.message).toMatch(/signature/);
    expect((err as AuthFailure).details).toEqual({ reason: 'bad-signature', app: 'foony', sub: 'alice' });
    expect(JSON.stringify(err.toJSON())).not.toContain('details');
    expect(Object.keys(err.toJSON()).sort()).toEqual(['code', 'message', 'statusCode']);
  });

  it('bad signature on a kid token names the key', async () => {
    const err = await refusal(new TokenAuthority(SIGNING_KEY, store()).verify(createJwt('myapp.k1:wrong', 'bob', {})));
    expect(err.message).toMatch(/signature/);
    expect((err as AuthFailure).details).toEqual({ reason: 'bad-signature', kid: 'myapp.k1', app: 'myapp', sub: 'bob' });
  });

  it('unknown key id', async () => {
    const err = await refusal(new TokenAuthority(SIGNING_KEY, store()).verify(createJwt('myapp.nope:s3cret', 'bob', {})));
    expect([err.code, err.message]).toEqual([40101, expect.stringMatching(/unknown key id "myapp\.nope"/)]);
    expect((err as AuthFailure).details).toMatchObject({ reason: 'unknown-key', kid: 'myapp.nope', sub: 'bob' });
  });

  it('expired (40102)', async () => {
    const err = await refusal(new TokenAuthority(SIGNING_KEY, store()).verify(createJwt(KEY, 'bob', {}, { iat: nowS() - 3600, ttlMs: 60_000 })));
    expect([err.code, err.message]).toEqual([40102, expect.stringMatching(/^token expired/)]);
    expect((err as AuthFailure).details).toMatchObject({ reason: 'expired', kid: 'myapp.k1', sub: 'bob' });
  });

  it('wrong app', async () => {
    const err = await refusal(new TokenAuthority(SIGNING_KEY, store()).verify(createJwt(KEY, 'bob', {}, { extra: { app: 'other' } })));
    expect([err.code, err.message]).toEqual([40101, expect.stringMatching(/wrong app/)]);
    expect((err as AuthFailure).details).toMatchObject({ reason: 'wrong-app', kid: 'myapp.k1', app: 'other', sub: 'bob' });
  });

  it('malformed', async () => {
    for (const token of ['abc', 'a.b', '..', `${b64('not an object')}.${b64({})}.x`]) {
      const err = await refusal(new TokenAuthority(SIGNING_KEY).verify(token));
      expect([err.code, err.message], token).toEqual([40101, expect.stringMatching(/^malformed token/)]);
      expect((err as AuthFailure).details.reason).toBe('malformed');
    }
  });

  it('an algorithm other than HS256 is named', async () => {
    const input = `${b64({ alg: 'HS512', typ: 'JWT' })}.${b64({ app: 'foony', sub: 'a', exp: nowS() + 60 })}`;
    const err = await refusal(new TokenAuthority(SIGNING_KEY).verify(`${input}.${createHmac('sha512', SIGNING_KEY).update(input).digest('base64url')}`));
    expect([err.code, err.message]).toEqual([40101, expect.stringContaining('HS512')]);
  });

  it('a too-short signing key is a clear error, not a crash', () => {
    expect(() => new TokenAuthority('short')).toThrow(HubbubError);
    expect(() => new TokenAuthority('short')).toThrow(/JWT_SIGNING_KEY must be at least 16 characters/);
  });
});
