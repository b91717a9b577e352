/**
 * Support for the Pusher compat tests, WebSocket and HTTP API alike: a real `hubbub serve` with API
 * keys made by `hubbub keys create`, each read the way a Pusher user reads it (app id, key, secret),
 * the `pusher` server SDK pointed at it as the app's backend, raw HTTP requests signed by the SDK's own
 * signer (`pusher/lib/requests.js`) for what the SDK would never send wrong, pusher-js clients (its
 * Node build), and a bare socket for what pusher-js would never send.
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PusherJs from 'pusher-js';
import type { Channel, ChannelAuthorizationCallback, Options, UserAuthenticationCallback } from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';
import { runCli, startServer, type RunningServer } from './server.js';
import { until } from './wait.js';

export { until } from './wait.js';

/**
 * pusher-js's Node build is CommonJS with a default export: the class is `default` to the type checker
 * under NodeNext, and the module itself or its `default` at run time, depending on the loader.
 */
type PusherClass = typeof PusherJs.default;
export type Pusher = InstanceType<PusherClass>;
const Pusher: PusherClass = (PusherJs as unknown as { default?: PusherClass }).default ?? (PusherJs as unknown as PusherClass);

const require = createRequire(import.meta.url);
const { createSignedQueryString } = require('pusher/lib/requests.js') as {
  createSignedQueryString(token: unknown, request: { method: string; path: string; params?: Record<string, unknown>; body?: string }): string;
};
const Token = require('pusher/lib/token.js') as new (key: string, secret: string) => unknown;

/** What a Pusher backend is configured with. */
export interface PusherCredentials {
  appId: string;
  key: string;
  secret: string;
}

/** A Hubbub API key `APP.KEYID:SECRET` as a Pusher user takes it. */
export interface PusherApp extends PusherCredentials {
  /** The whole Hubbub key, for Hubbub's own SDK. */
  hubbubKey: string;
  /** `APP.KEYID`, for `hubbub keys revoke` and a webhook endpoint's `key`. */
  keyName: string;
}

/** `APP.KEYID:SECRET` (what `hubbub keys create` prints) as Pusher credentials. */
export function pusherCredentials(whole: string): PusherApp {
  const m = /^([^.:]+)\.([^:]+):(.+)$/.exec(whole);
  if (!m) throw new Error(`not an API key: ${whole}`);
  return { appId: m[1], key: m[2], secret: m[3], hubbubKey: whole, keyName: `${m[1]}.${m[2]}` };
}

/** `PUSHER_APP_ID=…` lines (what `hubbub keys create --format pusher` prints) as credentials. */
export function parsePusherEnv(text: string): PusherCredentials {
  const env = Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((line) => {
        const eq = line.indexOf('=');
        return [line.slice(0, eq), line.slice(eq + 1)];
      }),
  );
  return { appId: env.PUSHER_APP_ID, key: env.PUSHER_APP_KEY, secret: env.PUSHER_APP_SECRET };
}

/**
 * `hubbub keys create --app APP --format pusher` (with a capability, if given) in the data dir of a
 * server not yet started, or running (keys are re-read), read from the env lines it prints: only a key
 * made so answers pusher-js at `/app/{key}`.
 */
export async function createPusherApp(dataDir: string, appId = 'pusherapp', capability?: unknown): Promise<PusherApp> {
  const args = ['keys', 'create', '--app', appId, '--format', 'pusher', '--data-dir', dataDir];
  if (capability !== undefined) args.push('--capability', JSON.stringify(capability));
  const { code, stdout, stderr } = await runCli(args);
  if (code !== 0) throw new Error(`hubbub keys create failed (${code}): ${stderr}`);
  const { appId: app, key, secret } = parsePusherEnv(stdout);
  if (!app || !key || !secret) throw new Error(`hubbub keys create --format pusher printed ${JSON.stringify(stdout)}, not the three PUSHER_APP_ lines`);
  return pusherCredentials(`${app}.${key}:${secret}`);
}

/**
 * `hubbub keys create --app APP` without `--format pusher`: an ordinary Hubbub key (its id travels in
 * tokens), read as Pusher credentials to show what it may and may not open.
 */
export async function createHubbubKey(dataDir: string, appId = 'pusherapp', capability?: unknown): Promise<PusherApp> {
  const args = ['keys', 'create', '--app', appId, '--data-dir', dataDir];
  if (capability !== undefined) args.push('--capability', JSON.stringify(capability));
  const { code, stdout, stderr } = await runCli(args);
  if (code !== 0) throw new Error(`hubbub keys create failed (${code}): ${stderr}`);
  return pusherCredentials(stdout.trim());
}

export async function revokeKey(dataDir: string, keyName: string): Promise<void> {
  const { code, stderr } = await runCli(['keys', 'revoke', keyName, '--data-dir', dataDir]);
  if (code !== 0) throw new Error(`hubbub keys revoke failed (${code}): ${stderr}`);
}

/** A fresh data dir (unless given) with one key of `appId`, then `hubbub serve` on it. */
export async function startPusherServer(
  args: string[] = [],
  opts: { appId?: string; port?: number; dataDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ server: RunningServer; app: PusherApp }> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-pusher-'));
  const app = await createPusherApp(dataDir, opts.appId);
  const server = await startServer(args, { dataDir, ...(opts.port ? { port: opts.port } : {}), ...(opts.env ? { env: opts.env } : {}) });
  return { server, app };
}

/**
 * The app's backend: the `pusher` server SDK as a user configures it for a self-hosted server on
 * `port`, with any credential changed as the test says. It signs channel and user auth for pusher-js
 * as a real backend would, and calls the HTTP API.
 */
export function backend(app: PusherCredentials, port: number, overrides: Partial<PusherCredentials> = {}): PusherServer {
  const c = { ...app, ...overrides };
  return new PusherServer({
    appId: c.appId,
    key: c.key,
    secret: c.secret,
    host: '127.0.0.1',
    port: String(port),
    useTLS: false,
    encryptionMasterKeyBase64: Buffer.alloc(32, 7).toString('base64'),
  });
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

/**
 * `/apps/{appId}{path}?{signed query}`, signed by the SDK's own signer for `body` (text), to send by
 * hand; `agoS` signs as if it were that many seconds ago.
 */
export function signedPath(app: PusherCredentials, req: { method: 'GET' | 'POST'; path: string; params?: Record<string, unknown>; body?: string; agoS?: number }): string {
  const path = `/apps/${app.appId}${req.path}`;
  const realNow = Date.now;
  if (req.agoS !== undefined) Date.now = () => realNow() - req.agoS! * 1000;
  try {
    return `${path}?${createSignedQueryString(new Token(app.key, app.secret), { method: req.method, path, params: req.params, body: req.body })}`;
  } finally {
    Date.now = realNow;
  }
}

/** A request signed by the SDK's own signer, changed as the test says, and its answer. */
export async function signedRequest(server: RunningServer, app: PusherCredentials, req: RawRequest): Promise<{ status: number; text: string; json(): unknown }> {
  const path = `/apps/${app.appId}${req.path}`;
  const body = req.body === undefined ? undefined : JSON.stringify(req.body);
  const realNow = Date.now;
  if (req.agoS !== undefined) {
    const shift = req.agoS * 1000;
    Date.now = () => realNow() - shift;
  }
  let query: string;
  try {
    query = createSignedQueryString(new Token(app.key, app.secret), { method: req.method, path, params: req.params, body });
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

type PresenceData = Parameters<PusherServer['authorizeChannel']>[2];

/** pusher-js clients a test made, disconnected after it. */
export class PusherClients {
  private readonly open = new Set<Pusher>();

  /** A pusher-js client on `port`, signing channel and user auth with `signer` (the backend), in the test. */
  make(app: PusherApp, port: number, options: { signer?: PusherServer; presence?: { user_id: string; user_info?: unknown }; user?: { id: string } & Record<string, unknown> } & Partial<Options> = {}): Pusher {
    const { signer, presence, user, ...rest } = options;
    const client = new Pusher(app.key, {
      cluster: 'x',
      wsHost: '127.0.0.1',
      wsPort: port,
      forceTLS: false,
      enabledTransports: ['ws'],
      channelAuthorization: {
        customHandler: ({ socketId, channelName }: { socketId: string; channelName: string }, callback: ChannelAuthorizationCallback) => {
          if (!signer) return callback(new Error('no signer'), null);
          callback(null, signer.authorizeChannel(socketId, channelName, channelName.startsWith('presence-') ? (presence as PresenceData) : undefined));
        },
      },
      userAuthentication: {
        customHandler: ({ socketId }: { socketId: string }, callback: UserAuthenticationCallback) => {
          if (!signer || !user) return callback(new Error('no signer or user'), null);
          callback(null, signer.authenticateUser(socketId, user));
        },
      },
      ...rest,
    });
    this.open.add(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.open) client.disconnect();
    this.open.clear();
  }
}

/** Resolves with the socket id once the client is connected. */
export async function connected(client: Pusher): Promise<string> {
  await until(() => client.connection.state === 'connected', 'pusher-js connected');
  return client.connection.socket_id;
}

/**
 * `pusher.signin()` (the client must have been made with a `user`), resolved once the server said
 * `pusher:signin_success` and the user's `#server-to-user-{id}` channel is subscribed.
 */
export async function signedIn(client: Pusher): Promise<void> {
  client.signin();
  await until(() => client.user.serverToUserChannel?.subscribed === true, 'signed in, with the #server-to-user- channel subscribed');
}

/** Subscribe and wait for `pusher:subscription_succeeded` (rejects on `pusher:subscription_error`). */
export function subscribed(client: Pusher, name: string): Promise<Channel> {
  const channel = client.subscribe(name);
  return new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', () => resolve(channel));
    channel.bind('pusher:subscription_error', (err: unknown) => reject(Object.assign(new Error('subscription_error'), { detail: err })));
  });
}

/** The next `event` on `channel`, with pusher-js's metadata (`user_id` of client events on presence channels). */
export function nextEvent<T = unknown>(channel: Channel, event: string): Promise<{ data: T; metadata?: { user_id?: string } }> {
  return new Promise((resolve) => {
    const fn = (data: T, metadata?: { user_id?: string }) => {
      channel.unbind(event, fn);
      resolve({ data, metadata });
    };
    channel.bind(event, fn);
  });
}

/** A bare Pusher-protocol socket. */
export class RawPusher {
  readonly received: Array<{ event: string; channel?: string; data?: unknown }> = [];
  closed?: { code: number; reason: string };
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.received.push(JSON.parse(String(d))));
    ws.on('close', (code, reason) => (this.closed = { code, reason: String(reason) }));
  }

  static async open(port: number, path: string): Promise<RawPusher> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const raw = new RawPusher(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return raw;
  }

  send(event: string, data: unknown, channel?: string): void {
    this.ws.send(JSON.stringify({ event, data, ...(channel !== undefined ? { channel } : {}) }));
  }

  /** The first event received (from `from` on) that passes. */
  async next(check: (e: { event: string; channel?: string; data?: unknown }) => boolean, what: string, from = 0): Promise<{ event: string; channel?: string; data?: unknown }> {
    await until(() => this.received.slice(from).some(check), what);
    return this.received.slice(from).find(check)!;
  }

  async socketId(): Promise<string> {
    const e = await this.next((m) => m.event === 'pusher:connection_established', 'connection_established');
    return (JSON.parse(e.data as string) as { socket_id: string }).socket_id;
  }

  async whenClosed(): Promise<{ code: number; reason: string }> {
    await until(() => this.closed !== undefined, 'socket closed');
    return this.closed!;
  }

  close(): void {
    this.ws.close();
  }
}
