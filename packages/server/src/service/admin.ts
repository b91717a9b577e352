import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_DESCRIPTIONS, ErrorCode, HubbubError, isValidAppId, isValidChannelName, type ErrorCodeName } from '@hubbub/protocol';
import { appOf, channelKeyOf, channelOf } from '../core/outbound.js';
import { AdminSessions, clearedCookie, isCrossSite, sameKey, sessionCookie, sessionTokenOf } from './admin-sessions.js';
import { queryOf, sendJson } from './http.js';
import { TokenBucket } from '../core/rate-limit.js';
import type { Engine } from '../core/engine.js';
import type { SessionRegistry } from '../core/session-registry.js';
import type { Stats } from '../core/stats.js';
import type { Store } from './store/store.js';

const ASSETS = new URL('../../assets/', import.meta.url);
/** The page's own files, served without a login (they hold no data). */
const STATIC: Record<string, { file: string; type: string }> = {
  '/admin': { file: 'admin.html', type: 'text/html; charset=utf-8' },
  '/admin/': { file: 'admin.html', type: 'text/html; charset=utf-8' },
  '/admin/admin.js': { file: 'admin.js', type: 'text/javascript; charset=utf-8' },
};
/** The page runs only its own script and talks only to this server; no other site may frame it. */
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};
/** A login body holds one key: anything longer is not a login. */
const MAX_LOGIN_BYTES = 4096;

const KEY_IN_URL =
  'the admin key is not accepted in a URL (proxies and browsers log URLs): send it as "Authorization: Bearer <admin key>", or log in with the form at /admin';
const NO_CREDENTIALS = 'not logged in: log in with the form at /admin, or send "Authorization: Bearer <admin key>"';
/** Admin logins, right or wrong, per second per client address (and the burst allowed). */
const LOGIN_RATE_PER_S = 1;
const LOGIN_BURST = 20;
const MAX_LOGIN_ADDRESSES = 10_000;

const WRONG_KEY = 'wrong admin key: give the key the server was started with (--admin-key or HUBBUB_ADMIN_KEY)';

const ERROR_NAMES = new Map<number, ErrorCodeName>(Object.entries(ErrorCode).map(([name, code]) => [code, name as ErrorCodeName]));

/** A code with its name and meaning: 40301 → Capability, "the token's capability…". */
export function describeErrorCode(code: number): { name: string; description: string } {
  const name = ERROR_NAMES.get(code);
  return name ? { name, description: ERROR_DESCRIPTIONS[name] } : { name: 'Unknown', description: 'a code outside the Hubbub table' };
}

/** One second of the picture the admin page draws. */
export interface AdminSnapshot {
  at: number;
  node: string;
  engine: string;
  store: string;
  uptimeSeconds: number;
  connections: number;
  channels: number;
  messagesInPerSecond: number;
  deliveriesPerSecond: number;
  totals: { messagesIn: number; deliveries: number; bytesIn: number; bytesOut: number };
  topChannels: Array<{ app: string; channel: string; messages: number }>;
  apps: Array<{ app: string; connections: number; messages: number }>;
  errors: Array<{ code: number; name: string; description: string; count: number }>;
  recentErrors: Array<{ at: number; code: number; name: string; message: string }>;
  nodes: string[];
  webhookQueueDepth: number;
}

export interface Sample {
  at: number;
  connections: number;
  channels: number;
  messagesInPerSecond: number;
  deliveriesPerSecond: number;
}

/** What the console reads of the node it watches (HubbubServer is one). */
export interface AdminSource {
  readonly stats: Stats;
  readonly sessions: SessionRegistry;
  readonly router: { readonly channelCount: number };
  readonly transportCounters: { readonly framesOut: number; readonly bytesIn: number; readonly bytesOut: number };
  readonly engine: Pick<Engine, 'kind' | 'presenceMembers' | 'nodes'>;
  readonly store: Pick<Store, 'kind' | 'webhookQueueDepth'>;
  readonly nodeId: string;
  readonly startedAt: number;
}

/** An open `/admin/stream`, and the login it rides on (none for a Bearer key). */
interface AdminStream {
  res: ServerResponse;
  session?: string;
}

/**
 * `/admin`: a page and a once-a-second SSE stream of the server's figures, behind the admin key.
 * The page is static; every number arrives over the stream. The key is given once, to a login
 * form that answers with a session cookie, or as a Bearer header by tools; never in a URL.
 */
export class AdminConsole {
  /** The last five minutes, one sample a second, shared by every open admin page. */
  readonly series: Sample[] = [];
  readonly sessions = new AdminSessions();
  /** Login attempts per client address (at most `MAX_LOGIN_ADDRESSES` kept, oldest dropped first). */
  private readonly loginAttempts = new Map<string, TokenBucket>();
  private readonly streams = new Set<AdminStream>();
  private last?: { at: number; messagesIn: number; deliveries: number };
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly server: AdminSource,
    private readonly adminKey: string | undefined,
  ) {
    if (adminKey) {
      this.timer = setInterval(() => this.sample(), 1000);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
    for (const stream of this.streams) stream.res.end();
    this.streams.clear();
  }

  private sample(): Sample {
    const { stats, sessions, router } = this.server;
    const now = Date.now();
    const framesOut = this.server.transportCounters.framesOut;
    const prev = this.last ?? { at: now - 1000, messagesIn: stats.messagesIn, deliveries: framesOut };
    const seconds = Math.max(0.001, (now - prev.at) / 1000);
    this.last = { at: now, messagesIn: stats.messagesIn, deliveries: framesOut };
    const sample: Sample = {
      at: now,
      connections: sessions.size,
      channels: router.channelCount,
      messagesInPerSecond: round((stats.messagesIn - prev.messagesIn) / seconds),
      deliveriesPerSecond: round((framesOut - prev.deliveries) / seconds),
    };
    this.series.push(sample);
    if (this.series.length > 300) this.series.shift();
    return sample;
  }

  /** Handles `/admin…`; returns false for other paths. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path !== '/admin' && !path.startsWith('/admin/')) return false;
    if (!this.adminKey) {
      throw new HubbubError(ErrorCode.NotFound, 'the admin console is off: start the server with --admin-key (or HUBBUB_ADMIN_KEY)');
    }
    if (queryOf(req).has('key')) throw new HubbubError(ErrorCode.Forbidden, KEY_IN_URL);
    const method = req.method;
    const asset = STATIC[path];
    if (asset && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, { 'content-type': asset.type, ...PAGE_HEADERS });
      res.end(await readFile(new URL(asset.file, ASSETS)));
      return true;
    }
    if (path === '/admin/login' && method === 'POST') return this.login(req, res);
    if (path === '/admin/logout' && method === 'POST') return this.logout(req, res);
    const session = this.authorize(req);
    if (path === '/admin/session' && method === 'GET') {
      sendJson(res, 200, { expiresAt: session ? this.sessions.expiresAt(session) : null }, { 'cache-control': 'no-store' });
      return true;
    }
    if (path === '/admin/stream' && method === 'GET') return this.stream(req, res, session);
    if (path === '/admin/presence' && method === 'GET') {
      const q = queryOf(req);
      const app = q.get('app') ?? '';
      const channel = q.get('channel') ?? '';
      if (!isValidAppId(app) || !isValidChannelName(channel)) throw new HubbubError(ErrorCode.BadFrame, 'give ?app= and ?channel=');
      const members = await this.server.engine.presenceMembers(channelKeyOf(app, channel));
      sendJson(res, 200, { members }, { 'cache-control': 'no-store' });
      return true;
    }
    throw new HubbubError(ErrorCode.NotFound, `no admin route ${req.method} ${path}`);
  }

  /**
   * `POST /admin/login` with `{ "key": … }` (JSON, from the page's script) or `key=…` (a plain form
   * post): a session cookie on the right key; 401 on a wrong one, or back to the form saying so.
   */
  private async login(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    this.refuseCrossSite(req);
    // Guessing the key: past a burst of logins from one address, it waits (a long random key is the
    // real defence; this keeps a weak one from being guessed quickly).
    if (!this.loginAllowed(req.socket.remoteAddress ?? '')) {
      throw new HubbubError(ErrorCode.RateLimited, `too many admin logins: wait ${LOGIN_BURST / LOGIN_RATE_PER_S} s and try again`);
    }
    const form = isFormPost(req);
    const key = await readLoginKey(req, form);
    if (!sameKey(key, this.adminKey!)) {
      if (form) return redirect(res, '/admin?login=failed');
      throw new HubbubError(ErrorCode.BadAuth, WRONG_KEY);
    }
    const { token, expiresAt } = this.sessions.start();
    const cookie = sessionCookie(req, token, expiresAt - Date.now());
    if (form) return redirect(res, '/admin', cookie);
    sendJson(res, 200, { expiresAt }, { 'set-cookie': cookie, 'cache-control': 'no-store' });
    return true;
  }

  private loginAllowed(address: string): boolean {
    let bucket = this.loginAttempts.get(address);
    if (!bucket) {
      if (this.loginAttempts.size >= MAX_LOGIN_ADDRESSES) this.loginAttempts.delete(this.loginAttempts.keys().next().value!);
      this.loginAttempts.set(address, (bucket = new TokenBucket(LOGIN_RATE_PER_S, LOGIN_BURST)));
    }
    return bucket.take();
  }

  /** `POST /admin/logout`: the session ends now, and so do the streams it opened. */
  private logout(req: IncomingMessage, res: ServerResponse): boolean {
    this.refuseCrossSite(req);
    const token = sessionTokenOf(req);
    this.sessions.end(token);
    if (token) {
      for (const stream of this.streams) if (stream.session === token) stream.res.end();
    }
    if (isFormPost(req)) return redirect(res, '/admin', clearedCookie(req));
    res.writeHead(204, { 'set-cookie': clearedCookie(req), 'cache-control': 'no-store' }).end();
    return true;
  }

  private refuseCrossSite(req: IncomingMessage): void {
    if (isCrossSite(req)) throw new HubbubError(ErrorCode.Forbidden, 'admin requests must come from the admin page on this server');
  }

  async snapshot(): Promise<AdminSnapshot> {
    const { stats, sessions, engine, store } = this.server;
    const counters = this.server.transportCounters;
    const now = Date.now();
    const latest = this.series.at(-1) ?? this.sample();
    const perApp = new Map<string, number>();
    for (const s of sessions.all()) if (s.app) perApp.set(s.app, (perApp.get(s.app) ?? 0) + 1);
    for (const app of stats.messagesByApp.keys()) if (!perApp.has(app)) perApp.set(app, 0);
    return {
      at: now,
      node: this.server.nodeId,
      engine: engine.kind,
      store: store.kind,
      uptimeSeconds: Math.round((now - this.server.startedAt) / 1000),
      connections: latest.connections,
      channels: latest.channels,
      messagesInPerSecond: latest.messagesInPerSecond,
      deliveriesPerSecond: latest.deliveriesPerSecond,
      totals: { messagesIn: stats.messagesIn, deliveries: counters.framesOut, bytesIn: counters.bytesIn, bytesOut: counters.bytesOut },
      topChannels: stats.topChannels(10).map(({ channel, messages }) => ({ app: appOf(channel), channel: channelOf(channel), messages })),
      apps: [...perApp].map(([app, connections]) => ({ app, connections, messages: stats.messagesByApp.get(app) ?? 0 })),
      errors: [...stats.errors].map(([code, count]) => ({ code, ...describeErrorCode(code), count })).sort((a, b) => a.code - b.code),
      recentErrors: stats.recentErrors.slice(-10).map((e) => ({ ...e, name: describeErrorCode(e.code).name })),
      // An engine that cannot list its nodes just now (Redis down): the page shows this node alone.
      nodes: (await engine.nodes?.().catch(() => undefined)) ?? [this.server.nodeId],
      webhookQueueDepth: await store.webhookQueueDepth().catch(() => -1),
    };
  }

  /**
   * A Bearer admin key, or a live session cookie; returns the session token (none for Bearer).
   * A header that is there but wrong is refused even with a good cookie: it is a mistake to report.
   */
  private authorize(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '';
      if (sameKey(bearer, this.adminKey!)) return undefined;
      throw new HubbubError(ErrorCode.BadAuth, WRONG_KEY);
    }
    const token = sessionTokenOf(req);
    if (this.sessions.expiresAt(token) !== undefined) return token;
    throw new HubbubError(ErrorCode.BadAuth, token ? 'the admin session has ended: log in again at /admin' : NO_CREDENTIALS);
  }

  private async stream(req: IncomingMessage, res: ServerResponse, session: string | undefined): Promise<boolean> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const stream: AdminStream = { res, session };
    this.streams.add(stream);
    const send = async () => {
      if (res.writableEnded) return;
      // A login that expired (or was logged out elsewhere) stops feeding its page.
      if (session && this.sessions.expiresAt(session) === undefined) return void res.end();
      res.write(`event: snapshot\ndata: ${JSON.stringify(await this.snapshot())}\n\n`);
    };
    res.write(`event: series\ndata: ${JSON.stringify(this.series)}\n\n`);
    const timer = setInterval(() => void send().catch(() => res.end()), 1000);
    const done = () => {
      clearInterval(timer);
      this.streams.delete(stream);
    };
    req.on('close', done);
    res.on('finish', done);
    await send();
    return true;
  }
}

/** A browser's plain form post (the page without its script), as opposed to a JSON call. */
function isFormPost(req: IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

async function readLoginKey(req: IncomingMessage, form: boolean): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_LOGIN_BYTES) throw new HubbubError(ErrorCode.TooLarge, `a login body is at most ${MAX_LOGIN_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (form) return new URLSearchParams(text).get('key') ?? '';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HubbubError(ErrorCode.BadFrame, 'send {"key": "<admin key>"} as JSON, or post the login form');
  }
  const key = (body as { key?: unknown } | null)?.key;
  if (typeof key !== 'string') throw new HubbubError(ErrorCode.BadFrame, 'send {"key": "<admin key>"} as JSON, or post the login form');
  return key;
}

function redirect(res: ServerResponse, location: string, cookie?: string): boolean {
  res.writeHead(303, { location, 'cache-control': 'no-store', ...(cookie ? { 'set-cookie': cookie } : {}) }).end();
  return true;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
