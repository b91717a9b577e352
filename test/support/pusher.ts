/**
 * Support for the Pusher dialect's compat tests: a real `hubbub serve` with one API key, the key
 * read the way a Pusher user reads it (app id, key, secret), pusher-js clients (its Node build)
 * pointed at it, the `pusher` server SDK as the app's backend signer, and a bare socket for what
 * pusher-js would never send.
 */
import { mkdtempSync } from 'node:fs';
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

/** A Hubbub API key `APP.KEYID:SECRET` as a Pusher user takes it. */
export interface PusherApp {
  appId: string;
  key: string;
  secret: string;
  /** The whole Hubbub key, for Hubbub's own SDK. */
  hubbubKey: string;
}

/** `hubbub keys create --app APP` in `dataDir`, read as Pusher credentials. */
export async function createPusherApp(dataDir: string, appId = 'pusherapp', extra: string[] = []): Promise<PusherApp> {
  const { code, stdout, stderr } = await runCli(['keys', 'create', '--app', appId, '--data-dir', dataDir, ...extra]);
  if (code !== 0) throw new Error(`keys create failed: ${stderr}`);
  const hubbubKey = stdout.trim().split('\n').at(-1)!.trim();
  const m = /^([^.]+)\.([^:]+):(.+)$/.exec(hubbubKey);
  if (!m) throw new Error(`unexpected key: ${hubbubKey}`);
  return { appId: m[1], key: m[2], secret: m[3], hubbubKey };
}

/** A fresh data dir with one key, and `hubbub serve` on it. */
export async function startPusherServer(args: string[] = [], opts: { port?: number; dataDir?: string } = {}): Promise<{ server: RunningServer; app: PusherApp }> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-pusher-'));
  const app = await createPusherApp(dataDir);
  const server = await startServer(args, { dataDir, ...(opts.port ? { port: opts.port } : {}) });
  return { server, app };
}

/** The app's backend: the `pusher` server SDK, used here to sign as a real backend would. */
export function backend(app: PusherApp, port: number, secret = app.secret): PusherServer {
  return new PusherServer({
    appId: app.appId,
    key: app.key,
    secret,
    host: '127.0.0.1',
    port: String(port),
    useTLS: false,
    encryptionMasterKeyBase64: Buffer.alloc(32, 7).toString('base64'),
  });
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
