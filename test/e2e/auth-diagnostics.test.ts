/**
 * Auth failures are debuggable without leaking: the 40101/40102 message says which check failed, and
 * the server logs the refusal at info with the client's address and the token's kid/app/sub, never
 * the token or a secret. `devtoken` says when it makes a new signing key, and where.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import type { ServerFrame } from '@hubbub/protocol';
import { SIGNING_KEY, cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient } from '../support/clients.js';
import { until } from '../support/wait.js';

let server: RunningServer;
let apiKey: string;
const raws: RawClient[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  server = await startServer();
  const created = await runCli(['keys', 'create', '--app', 'diag', '--data-dir', server.dataDir]);
  expect(created.code).toBe(0);
  apiKey = created.stdout.trim();
});
afterAll(async () => {
  raws.forEach((r) => r.close());
  await cleanup(server);
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

const now = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function hs256(secret: string, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** What `hubbub devtoken` run from another directory makes: a token signed by another key. */
function fromAnotherKey(sub: string): Promise<string> {
  return new SignJWT({ app: 'diag' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuedAt(now())
    .setExpirationTime(now() + 600)
    .sign(new TextEncoder().encode('another-dev-signing-key-from-elsewhere'));
}

function keyToken(sub: string, extra: Record<string, unknown> = {}, key = apiKey): string {
  const colon = key.indexOf(':');
  return hs256(key.slice(colon + 1), { kid: key.slice(0, colon) }, { sub, cap: '{"*":["*"]}', iat: now(), exp: now() + 600, ...extra });
}

async function socketAuth(token: string): Promise<ServerFrame> {
  const raw = await RawClient.connect(server.url);
  raws.push(raw);
  return raw.auth(token);
}

async function restAuth(token: string): Promise<{ status: number; error: { code: number; message: string } }> {
  const res = await fetch(`${server.http}/channels/diag/messages`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, error: ((await res.json()) as { error: { code: number; message: string } }).error };
}

type LogEntry = Record<string, unknown> & { level: number; msg: string };

/** The server's log entry about a refused credential for client `sub`. */
async function refusalLogged(sub: string, count = 1): Promise<LogEntry[]> {
  const entries = () =>
    server.logs
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEntry)
      .filter((e) => e.sub === sub);
  await until(() => entries().length >= count, `a log entry about ${sub}`);
  return entries();
}

function expectNoTokenText(entries: LogEntry[], token: string): void {
  const text = JSON.stringify(entries);
  for (const part of token.split('.')) expect(text).not.toContain(part);
  expect(text).not.toContain(SIGNING_KEY);
  expect(text).not.toContain(apiKey.split(':')[1]);
}

describe('the message names the check that failed; the log says who, at info', () => {
  it('a token from another signing key: "bad signature", logged with address, app and sub, without the token', async () => {
    const token = await fromAnotherKey('sig-socket');
    const reply = await socketAuth(token);
    expect(reply).toMatchObject({ t: 'err', code: 40101, message: expect.stringMatching(/signature/) });
    const [entry] = await refusalLogged('sig-socket');
    expect(entry).toMatchObject({ level: 30, reason: 'bad-signature', app: 'diag', sub: 'sig-socket' });
    expectNoTokenText([entry], token);

    const restToken = await fromAnotherKey('sig-rest');
    expect(await restAuth(restToken)).toMatchObject({ status: 401, error: { code: 40101, message: expect.stringMatching(/signature/) } });
    const [restEntry] = await refusalLogged('sig-rest');
    expect(restEntry).toMatchObject({ level: 30, reason: 'bad-signature', app: 'diag', sub: 'sig-rest', address: expect.stringMatching(/127\.0\.0\.1/) });
    expectNoTokenText([restEntry], restToken);
  });

  it('expired: 40102, logged', async () => {
    const token = keyToken('late', { iat: now() - 7200, exp: now() - 3600 });
    expect(await socketAuth(token)).toMatchObject({ t: 'err', code: 40102, message: expect.stringMatching(/expired/) });
    const [entry] = await refusalLogged('late');
    expect(entry).toMatchObject({ level: 30, reason: 'expired', kid: apiKey.split(':')[0], sub: 'late' });
    expectNoTokenText([entry], token);
  });

  it('unknown key id: named, and logged with the kid', async () => {
    const token = keyToken('stranger', {}, 'diag.nosuchkey:whatever-secret');
    const reply = await socketAuth(token);
    expect(reply).toMatchObject({ t: 'err', code: 40101, message: expect.stringMatching(/unknown key id "diag\.nosuchkey"/) });
    const [entry] = await refusalLogged('stranger');
    expect(entry).toMatchObject({ level: 30, reason: 'unknown-key', kid: 'diag.nosuchkey', sub: 'stranger' });
    expectNoTokenText([entry], token);
  });

  it('wrong app: a key token claiming another app', async () => {
    const token = keyToken('wanderer', { app: 'other-app' });
    expect(await restAuth(token)).toMatchObject({ status: 401, error: { code: 40101, message: expect.stringMatching(/wrong app/) } });
    const [entry] = await refusalLogged('wanderer');
    expect(entry).toMatchObject({ level: 30, reason: 'wrong-app', kid: apiKey.split(':')[0], app: 'other-app', sub: 'wanderer' });
    expectNoTokenText([entry], token);
  });

  it('malformed, including a valid token in a non-canonical spelling', async () => {
    expect(await socketAuth('not-a-jwt')).toMatchObject({ t: 'err', code: 40101, message: expect.stringMatching(/^malformed token/) });
    const good = keyToken('padded');
    const padded = `${good}=`;
    expect(await socketAuth(padded)).toMatchObject({ t: 'err', code: 40101, message: expect.stringMatching(/^malformed token/) });
    expect(await restAuth(padded)).toMatchObject({ status: 401, error: { code: 40101, message: expect.stringMatching(/^malformed token/) } });
    const entries = await refusalLogged('padded', 2);
    expect(entries[0]).toMatchObject({ level: 30, reason: 'malformed', kid: apiKey.split(':')[0] });
    expectNoTokenText(entries, good);
    // The canonical spelling of the same token is fine.
    expect(await socketAuth(good)).toMatchObject({ t: 'connected' });
  });
});

describe('devtoken and a new signing key', () => {
  it('says on stderr that it made a new key, and where; a second run does not', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'hubbub-devkey-')), 'elsewhere');
    dirs.push(dataDir);
    const args = ['devtoken', '--app', 'diag', '--client', 'me', '--data-dir', dataDir];
    const first = await runCli(args, { JWT_SIGNING_KEY: '' });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/new .*signing key/);
    expect(first.stderr).toContain(join(dataDir, 'dev-signing-key'));
    expect(first.stdout.trim().split('.')).toHaveLength(3);
    const second = await runCli(args, { JWT_SIGNING_KEY: '' });
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
  });
});
