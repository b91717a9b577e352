/**
 * Support for the Laravel Echo compat tests: a stand-in for a Laravel app's broadcasting backend
 * (`POST /broadcasting/auth`, signing with the `pusher` server SDK as Laravel's PusherBroadcaster
 * does, the user known from a bearer token), and Laravel Echo clients configured the way a Laravel
 * app's `resources/js/echo.js` configures them, pointed at `hubbub serve`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Echo, { type EchoOptions } from 'laravel-echo';
import PusherJs from 'pusher-js';
import type PusherServer from 'pusher';
import type { PusherApp } from './pusher.js';

type PusherClass = typeof PusherJs.default;
/** pusher-js's Node build: its class is the module or its `default`, depending on the loader. */
export const PusherJsClass: PusherClass = (PusherJs as unknown as { default?: PusherClass }).default ?? (PusherJs as unknown as PusherClass);

/** The same class as Echo's `Pusher` option types it (Echo's types name pusher-js's module, not its class). */
export const EchoPusherOption = PusherJsClass as unknown as EchoOptions<'pusher'>['Pusher'];

/** A user of the Laravel app: `id` as Laravel's auth identifier (a number), `name` what its channel callback returns. */
export interface LaravelUser {
  id: number;
  name: string;
}

/** The app's channel authorization callbacks (routes/channels.php), by Pusher channel name. */
export type ChannelRules = (channel: string, user: LaravelUser) => boolean | Record<string, unknown>;

/** Laravel's default rules for these tests: every signed-in user may use `private-*`; presence returns `{id, name}`. */
export const defaultRules: ChannelRules = (channel, user) => (channel.startsWith('presence-') ? { id: user.id, name: user.name } : true);

/**
 * The Laravel backend's auth endpoint: pusher-js posts `socket_id` and `channel_name` as a form; the
 * user comes from `Authorization: Bearer {token}` (Echo's `bearerToken`, as with Sanctum). 403 when the
 * callback refuses, as Laravel answers.
 */
export class LaravelBackend {
  readonly auths: Array<{ channel: string; user?: string }> = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(signer: PusherServer, users: Record<string, LaravelUser>, rules: ChannelRules = defaultRules, extra?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<LaravelBackend> {
    let backend: LaravelBackend | undefined;
    const server = createServer((req, res) => {
      if (extra?.(req, res)) return;
      if (req.method !== 'POST' || req.url !== '/broadcasting/auth') return void res.writeHead(404).end();
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const socketId = form.get('socket_id') ?? '';
        const channel = form.get('channel_name') ?? '';
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const user = token === undefined ? undefined : users[token];
        backend?.auths.push({ channel, user: token });
        const allowed = user ? rules(channel, user) : false;
        if (!user || allowed === false) return void res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Forbidden"}');
        const presence = channel.startsWith('presence-') ? { user_id: user.id as unknown as string, user_info: allowed === true ? {} : allowed } : undefined;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(signer.authorizeChannel(socketId, channel, presence)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    backend = new LaravelBackend(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return backend;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export type PusherEcho = Echo<'pusher'>;

/** Echo clients a test made, disconnected after it. */
export class EchoClients {
  private readonly open = new Set<PusherEcho>();

  /**
   * `new Echo({broadcaster: 'pusher', …})` as a Laravel app writes it for a self-hosted Pusher server,
   * authorizing through `backend`'s `/broadcasting/auth` as the user with this token.
   */
  make(app: PusherApp, port: number, backend: LaravelBackend, token?: string, extra: Record<string, unknown> = {}): PusherEcho {
    const echo = new Echo({
      broadcaster: 'pusher',
      Pusher: EchoPusherOption,
      key: app.key,
      cluster: 'mt1',
      wsHost: '127.0.0.1',
      wsPort: port,
      forceTLS: false,
      enabledTransports: ['ws'],
      authEndpoint: `${backend.url}/broadcasting/auth`,
      // Echo's defaults hold one `auth.headers` object that `bearerToken` writes into: two Echos in one
      // process would share a user. A page has one Echo; here each gets headers of its own.
      auth: { headers: token !== undefined ? { Authorization: `Bearer ${token}` } : {} },
      ...extra,
    });
    this.open.add(echo);
    return echo;
  }

  closeAll(): void {
    for (const echo of this.open) echo.disconnect();
    this.open.clear();
  }
}

/** The pusher-js client under an Echo (what Laravel apps reach as `Echo.connector.pusher`). */
export function pusherOf(echo: PusherEcho): InstanceType<PusherClass> {
  return (echo.connector as unknown as { pusher: InstanceType<PusherClass> }).pusher;
}

/** Resolves once Echo's connection is up, with its socket id (what Laravel's `toOthers()` reads from `X-Socket-ID`). */
export async function echoConnected(echo: PusherEcho): Promise<string> {
  const pusher = pusherOf(echo);
  if (pusher.connection.state !== 'connected') await new Promise<void>((resolve) => pusher.connection.bind('connected', () => resolve()));
  return echo.socketId()!;
}

/** Resolves when Echo's channel says `pusher:subscription_succeeded`; rejects with its subscription error. */
export function echoSubscribed(channel: { subscribed(fn: () => void): unknown; error(fn: (e: unknown) => void): unknown }): Promise<void> {
  return new Promise((resolve, reject) => {
    channel.subscribed(() => resolve());
    channel.error((e) => reject(Object.assign(new Error('subscription_error'), { detail: e })));
  });
}
