/**
 * Support for the Pusher HTTP API tests: a real `hubbub serve` with keys made by `hubbub keys create`,
 * the `pusher` server SDK pointed at it the way a user would, and raw requests signed by the SDK's own
 * signer (`pusher/lib/requests.js`), so a test can change one thing the SDK would never send wrong.
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import { runCli, startServer, type RunningServer } from './server.js';

const require = createRequire(import.meta.url);
const { createSignedQueryString } = require('pusher/lib/requests.js') as {
  createSignedQueryString(token: unknown, request: { method: string; path: string; params?: Record<string, unknown>; body?: string }): string;
};
const Token = require('pusher/lib/token.js') as new (key: string, secret: string) => unknown;

/** What a Pusher user copies from `hubbub keys create --app APP` (`APP.KEYID:SECRET`). */
export interface PusherCredentials {
  appId: string;
  key: string;
  secret: string;
  /** `APP.KEYID`, for `hubbub keys revoke`. */
  keyName: string;
}

export function pusherCredentials(whole: string): PusherCredentials {
  const m = /^([^.:]+)\.([^:]+):(.+)$/.exec(whole);
  if (!m) throw new Error(`not an API key: ${whole}`);
  return { appId: m[1], key: m[2], secret: m[3], keyName: `${m[1]}.${m[2]}` };
}

/** Make an API key with the real CLI, in the data dir of a server not yet started (or running: keys are re-read). */
export async function createKey(dataDir: string, app: string, capability?: unknown): Promise<PusherCredentials> {
  const args = ['keys', 'create', '--app', app, '--data-dir', dataDir];
  if (capability !== undefined) args.push('--capability', JSON.stringify(capability));
  const { code, stdout, stderr } = await runCli(args);
  if (code !== 0) throw new Error(`hubbub keys create failed (${code}): ${stderr}`);
  return pusherCredentials(stdout.trim());
}

export async function revokeKey(dataDir: string, keyName: string): Promise<void> {
  const { code, stderr } = await runCli(['keys', 'revoke', keyName, '--data-dir', dataDir]);
  if (code !== 0) throw new Error(`hubbub keys revoke failed (${code}): ${stderr}`);
}

/** A fresh data dir with a key, then `hubbub serve` on it. */
export async function startWithKey(app: string, args: string[] = [], opts: { dataDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ server: RunningServer; creds: PusherCredentials }> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-pusher-http-'));
  const creds = await createKey(dataDir, app);
  const server = await startServer(args, { dataDir, env: opts.env });
  return { server, creds };
}

/** The `pusher` SDK as a user configures it for a self-hosted server. */
export function pusherFor(server: RunningServer, creds: PusherCredentials, overrides: Partial<PusherCredentials> = {}): Pusher {
  const c = { ...creds, ...overrides };
  return new Pusher({ appId: c.appId, key: c.key, secret: c.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
}

export interface RawRequest {
  method: 'GET' | 'POST';
  /** Under `/apps/{appId}`, e.g. `/events`. */
  path: string;
  params?: Record<string, unknown>;
  body?: unknown;
  /** Sign as if it were this many seconds ago (an old `auth_timestamp`). */
  agoS?: number;
  /** Change the signed query before sending it. */
  query?: (signed: string) => string;
  /** Send this body instead of the one that was signed. */
  sentBody?: string;
}

/** A request signed by the SDK's own signer, changed as the test says, and its answer. */
export async function signedRequest(server: RunningServer, creds: PusherCredentials, req: RawRequest): Promise<{ status: number; text: string; json(): unknown }> {
  const path = `/apps/${creds.appId}${req.path}`;
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  const realNow = Date.now;
  if (req.agoS !== undefined) {
    const shift = req.agoS * 1000;
    Date.now = () => realNow() - shift;
  }
  let query: string;
  try {
    query = createSignedQueryString(new Token(creds.key, creds.secret), { method: req.method, path, params: req.params, body });
  } finally {
    Date.now = realNow;
  }
  if (req.query) query = req.query(query);
  const sent = req.sentBody ?? body;
  const res = await fetch(`${server.http}${path}?${query}`, {
    method: req.method,
    body: sent,
    headers: sent === undefined ? {} : { 'content-type': 'application/json' },
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
}

/** A response body of the SDK's `get`/`trigger`, parsed. */
export async function jsonOf(res: { json(): Promise<unknown> }): Promise<any> {
  return res.json();
}
