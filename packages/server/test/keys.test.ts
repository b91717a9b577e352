/** API keys `app.keyId:secret`: the store file, older hash-only records, and key credentials. */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HubbubError, type AuthFrame } from '@hubbub/protocol';
import { authenticateHeader, authenticator, identityForKey } from '../src/service/authenticate.js';
import { KeyStore, looksLikeKey, parseKeyName, splitKey } from '../src/service/keys.js';
import { TokenAuthority } from '../src/service/tokens.js';
import { ensurePrivateDir, resolveSigningKey, tightenPrivateFile } from '../src/service/signing-key.js';
import type { AuthFailureReport } from '../src/service/authenticate.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-keys-'));
  dirs.push(dir);
  return join(dir, 'data', 'keys.json');
}

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HubbubError);
    return (err as HubbubError).code;
  }
  throw new Error('expected a refusal');
}

describe('key names', () => {
  it('split at the first ":" (the secret may hold more); the name needs a "."', () => {
    expect(splitKey('myapp.k1:s3:cr:et')).toEqual({ name: 'myapp.k1', secret: 's3:cr:et' });
    expect(splitKey(':secret')).toBeNull();
    expect(splitKey('myapp.k1:')).toBeNull();
    expect(parseKeyName('myapp.k1')).toEqual({ app: 'myapp', keyId: 'k1' });
    expect(parseKeyName('myapp')).toBeNull();
    expect(looksLikeKey('myapp.k1:s3cret')).toBe(true);
    expect(looksLikeKey('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig')).toBe(false);
  });
});

describe('KeyStore', () => {
  it('creates keys in the Foony format, keeps the secret in a 0600 file, and verifies them', () => {
    const file = tempFile();
    const store = new KeyStore(file);
    const { key, record } = store.create('myapp', { 'chat:*': ['subscribe'] });
    expect(key).toMatch(/^myapp\.[A-Za-z0-9]+:[A-Za-z0-9_-]+$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')).keys[0];
    expect(stored).toMatchObject({ app: 'myapp', keyId: record.keyId, secret: splitKey(key)!.secret });
    expect(store.verify(key)).toEqual({ app: 'myapp', keyId: record.keyId, name: key.split(':')[0], capability: { 'chat:*': ['subscribe'] }, secret: splitKey(key)!.secret });
    expect(code(() => store.verify(`${key}x`))).toBe(40101);
    expect(code(() => store.verify(key.replace('myapp', 'other')))).toBe(40101);
    expect(store.revoke(key.split(':')[0])).toBe(true);
    expect(code(() => store.verify(key))).toBe(40101);
    expect(code(() => store.byName(key.split(':')[0]))).toBe(40101);
  });

  it('still accepts keys of older files that kept only a SHA-256 of the secret (but they cannot sign tokens)', () => {
    const file = tempFile();
    new KeyStore(file).create('seed');
    writeFileSync(file, JSON.stringify({ keys: [{ app: 'old', keyId: 'k9', secretSha256: createHash('sha256').update('legacy-secret').digest('hex'), createdAt: '2024-01-01T00:00:00Z' }] }));
    const store = new KeyStore(file);
    expect(store.verify('old.k9:legacy-secret')).toEqual({ app: 'old', keyId: 'k9', name: 'old.k9' });
    expect(code(() => store.verify('old.k9:wrong'))).toBe(40101);
    expect(code(() => store.byName('old.k9'))).toBe(40101);
    // New keys go into the same file next to the old one.
    const { key } = store.create('new');
    expect(store.list().map((r) => r.app)).toEqual(['old', 'new']);
    expect(store.byName(key.split(':')[0]).secret).toBe(splitKey(key)!.secret);
  });
});

describe('key credentials', () => {
  const file = tempFile();
  const store = new KeyStore(file);
  const { key } = store.create('myapp');
  const tokens = new TokenAuthority('unit-signing-key-0123456789abcdef', store);

  it('socket auth with a key: the client id asked for, or a made-up one that is never empty', async () => {
    const auth = authenticator(tokens, store);
    expect(await auth({ t: 'auth', key, clientId: 'backend-1' })).toEqual({ app: 'myapp', clientId: 'backend-1', keyName: key.split(':')[0] });
    const anon = await auth({ t: 'auth', key } as AuthFrame);
    expect(anon.clientId).toMatch(/^anon-.+/);
  });

  it('a bad client id, a bad key or no credential at all is 40101 (the SDK stops retrying only on 401xx)', async () => {
    expect(code(() => identityForKey(store, key, 'eve bob'))).toBe(40101);
    expect(code(() => identityForKey(store, key, ''))).toBe(40101);
    expect(code(() => identityForKey(store, 'myapp.nope:x'))).toBe(40101);
    await expect(authenticator(tokens, store)({ t: 'auth' })).rejects.toMatchObject({ code: 40101 });
  });

  it('REST: Basic base64(key), Bearer key, any case of the scheme; nothing else', async () => {
    const basic = await authenticateHeader(`Basic ${Buffer.from(key).toString('base64')}`, tokens, store);
    expect(basic).toMatchObject({ app: 'myapp', viaKey: true, key: { name: key.split(':')[0] } });
    expect(await authenticateHeader(`bearer ${key}`, tokens, store)).toMatchObject({ app: 'myapp', viaKey: true });
    for (const header of [undefined, '', 'Basic', `Digest ${key}`, `Basic ${Buffer.from('myapp.x:y').toString('base64')}`]) {
      await expect(authenticateHeader(header, tokens, store), String(header)).rejects.toMatchObject({ code: 40101 });
    }
  });
});

describe('auth failures are reported with what to log, never the credential', () => {
  const file = tempFile();
  const store = new KeyStore(file);
  const { key } = store.create('myapp');
  const tokens = new TokenAuthority('unit-signing-key-0123456789abcdef', store);
  const otherKeyToken = () => new TokenAuthority('another-signing-key-0123456789').mint({ app: 'myapp', clientId: 'alice', ttlMs: 60_000 });

  it('socket auth: onFailure gets the reason, the claims and the address the caller passes', async () => {
    const seen: Array<[AuthFailureReport, string | undefined]> = [];
    const auth = authenticator(tokens, store, { onFailure: (failure, address) => seen.push([failure, address]) });
    const { token } = await otherKeyToken();
    await expect(auth({ t: 'auth', token }, '203.0.113.9')).rejects.toMatchObject({ code: 40101, message: expect.stringMatching(/signature/) });
    expect(seen).toEqual([[{ credential: 'token', code: 40101, reason: 'bad-signature', app: 'myapp', sub: 'alice', message: expect.any(String) }, '203.0.113.9']]);
    expect(JSON.stringify(seen)).not.toContain(token);
    await expect(auth({ t: 'auth', key: `${key}x` })).rejects.toMatchObject({ code: 40101 });
    expect(seen[1][0]).toMatchObject({ credential: 'key', reason: 'bad-key', keyName: key.split(':')[0] });
    expect(JSON.stringify(seen[1])).not.toContain(key.split(':')[1]);
    await expect(auth({ t: 'auth' })).rejects.toMatchObject({ code: 40101 });
    expect(seen[2][0]).toMatchObject({ credential: 'none', reason: 'no-credential' });
  });

  it('success reports nothing', async () => {
    const onFailure = () => {
      throw new Error('reported a success');
    };
    const { token } = await tokens.mint({ app: 'myapp', clientId: 'bob', ttlMs: 60_000 });
    await expect(authenticator(tokens, store, { onFailure })({ t: 'auth', token })).resolves.toMatchObject({ clientId: 'bob' });
  });

  it('REST: the same report, with the address given', async () => {
    const seen: Array<[AuthFailureReport, string | undefined]> = [];
    const { token } = await otherKeyToken();
    const report = { onFailure: (f: AuthFailureReport, a?: string) => seen.push([f, a]), address: '198.51.100.7' };
    await expect(authenticateHeader(`Bearer ${token}`, tokens, store, report)).rejects.toMatchObject({ code: 40101 });
    expect(seen).toEqual([[expect.objectContaining({ reason: 'bad-signature', sub: 'alice', app: 'myapp' }), '198.51.100.7']]);
    await expect(authenticateHeader('Digest x', tokens, store, report)).rejects.toMatchObject({ code: 40101 });
    expect(seen[1][0]).toMatchObject({ reason: 'no-credential' });
  });
});

describe('the data dir and its secrets are private', () => {
  const dir = () => {
    const base = mkdtempSync(join(tmpdir(), 'hubbub-private-'));
    dirs.push(base);
    return join(base, 'data');
  };
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('KeyStore makes its directory 0700 and keys.json 0600', () => {
    const file = tempFile();
    new KeyStore(file).create('myapp');
    expect(mode(join(file, '..'))).toBe(0o700);
    expect(mode(file)).toBe(0o600);
  });

  it('the dev signing key: made once in a 0700 dir as a 0600 file, and the caller is told where', () => {
    const data = dir();
    const first = resolveSigningKey(undefined, data);
    expect(first).toMatchObject({ source: 'dev-file', created: join(data, 'dev-signing-key') });
    expect(mode(data)).toBe(0o700);
    expect(mode(join(data, 'dev-signing-key'))).toBe(0o600);
    const second = resolveSigningKey(undefined, data);
    expect(second.key).toBe(first.key);
    expect(second.created).toBeUndefined();
    expect(resolveSigningKey('from-the-environment-0123456789', dir())).toEqual({ key: 'from-the-environment-0123456789', source: 'env' });
  });

  it('ensurePrivateDir makes a missing dir 0700 and leaves an existing one as it is', () => {
    const data = dir();
    ensurePrivateDir(data);
    expect(mode(data)).toBe(0o700);
    const loose = dir();
    mkdirSync(loose, { mode: 0o755 });
    chmodSync(loose, 0o755);
    ensurePrivateDir(loose);
    expect(mode(loose)).toBe(0o755);
  });

  it('tightenPrivateFile narrows a readable file to 0600 and says what it was', () => {
    const data = dir();
    mkdirSync(data);
    const file = join(data, 'keys.json');
    writeFileSync(file, '{}');
    chmodSync(file, 0o644);
    expect(tightenPrivateFile(file)).toBe(0o644);
    expect(mode(file)).toBe(0o600);
    expect(tightenPrivateFile(file)).toBeUndefined();
    expect(tightenPrivateFile(join(data, 'missing'))).toBeUndefined();
    expect(existsSync(join(data, 'missing'))).toBe(false);
  });
});
