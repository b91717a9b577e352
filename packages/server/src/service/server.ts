import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { Stats } from '../core/stats.js';
import { createMetrics } from './metrics.js';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, HubbubError, assertChannelName, isCapabilitySubset, parseCapability, type Capability } from '@hubbub/protocol';
import { pino, type Logger } from 'pino';
import { Router } from '../core/router.js';
import { DEFAULT_LIMITS, Session, SessionRegistry, type SessionContext, type SessionLimits, type Wire } from '../core/session.js';
import { appOf, channelOf } from '../core/outbound.js';
import { DEFAULT_RETENTION, type Engine, type RetentionOptions } from '../engine/engine.js';
import { MemoryEngine } from '../engine/memory.js';
import { WsTransport } from '../transport/ws.js';
import { LongPollTransport } from '../transport/long-poll.js';
import { authenticateHeader, authenticator, type RestIdentity } from './authenticate.js';
import { Cors } from './cors.js';
import { parseDuration } from './duration.js';
import { HttpApi, queryOf, sendJson } from './http.js';
import { AdminConsole } from './admin.js';
import { KeyStore } from './keys.js';
import { resolveSigningKey } from './signing-key.js';
import { TokenAuthority } from './tokens.js';
import { RestApi } from './rest.js';
import { Documents } from './documents.js';
import { ChangeFeed, type WatchedTable } from './change-feed.js';
import { WebhookDispatcher, type WebhookEndpoint, type WebhookEventType } from './webhooks/dispatcher.js';
import { openStore } from './store/index.js';
import type { Store } from './store/store.js';

export interface ServerOptions {
  port: number;
  host: string;
  /** Where API keys (and the development signing key) are kept. */
  dataDir: string;
  /** HS256 secret for JWTs; without it a development key is kept in the data dir. */
  signingKey?: string;
  heartbeatMs: number;
  maxPayloadBytes: number;
  maxConnections: number;
  maxBufferedBytes: number;
  /** When set, WebSocket upgrades and CORS answer only these origins (else CORS allows any: `*`). */
  allowedOrigins?: string[];
  /** Turns on `/admin`; the page and its stream need this key. */
  adminKey?: string;
  /** Longest lifetime of a token minted by `POST /auth/token` or `POST /keys/{name}/requestToken`. */
  maxTokenTtlMs: number;
  limits: Partial<SessionLimits>;
  retention: Partial<RetentionOptions>;
  /** Defaults to the embedded MemoryEngine. */
  engine?: Engine;
  /** PostgreSQL URL for durable data; without it, SQLite in the data dir. */
  postgres?: string;
  /** A store to use instead of opening one. */
  store?: Store;
  /** Tables whose changes become events (needs `postgres`), and the app whose clients see them. */
  watchTables?: WatchedTable[];
  watchApp?: string;
  /** Per-app webhook endpoints. */
  webhooks?: WebhookEndpoint[];
  /** First webhook retry delay (doubles per attempt), and the longest wait between retries. */
  webhookRetryMs?: number;
  webhookMaxDelayMs?: number;
  logger?: Logger;
}

export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  port: 3000,
  host: '0.0.0.0',
  dataDir: '.hubbub',
  heartbeatMs: 15_000,
  maxPayloadBytes: 64 * 1024,
  maxConnections: 10_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxTokenTtlMs: 24 * 3_600_000,
  limits: {},
  retention: {},
};

/** A running `hubbub serve`: WebSocket and HTTP API on one port. */
export class HubbubServer {
  readonly sessions = new SessionRegistry();
  readonly router: Router;
  readonly tokens: TokenAuthority;
  readonly keys: KeyStore;
  readonly log: Logger;
  private readonly http: Server;
  private readonly ws: WsTransport;
  private readonly longPoll: LongPollTransport;
  private readonly api: HttpApi;
  private readonly rest: RestApi;
  private readonly cors: Cors;
  private readonly limits: SessionLimits;
  readonly documents: Documents;
  readonly webhooks: WebhookDispatcher;
  readonly stats = new Stats();
  readonly metrics: Registry;
  readonly startedAt = Date.now();
  readonly admin: AdminConsole;
  changeFeed?: ChangeFeed;

  private constructor(
    readonly options: ServerOptions,
    readonly engine: Engine,
    readonly store: Store,
    readonly signingKeySource: 'env' | 'dev-file',
    signingKey: string,
  ) {
    this.documents = new Documents(store, engine);
    this.webhooks = new WebhookDispatcher(store, options.webhooks ?? [], {
      retryBaseMs: options.webhookRetryMs,
      maxDelayMs: options.webhookMaxDelayMs,
      onError: (message) => this.log.warn(message),
    });
    this.documents.onChange = (app, event) => this.notify(app, 'document.changed', event);
    this.log = options.logger ?? pino({ level: 'info' });
    this.keys = new KeyStore(join(options.dataDir, 'keys.json'));
    this.tokens = new TokenAuthority(signingKey, this.keys);
    this.router = new Router(engine);
    this.router.onOccupancy = (key, occupied) => {
      this.notify(appOf(key), occupied ? 'channel.occupied' : 'channel.vacated', { channel: channelOf(key) });
    };
    this.limits = { ...DEFAULT_LIMITS, keepAliveMs: options.heartbeatMs, maxFrameBytes: options.maxPayloadBytes, ...options.limits };
    const authenticate = authenticator(this.tokens, this.keys);
    // One context for every session (not one object and closure per connection).
    const sessionContext: SessionContext = {
      engine,
      router: this.router,
      authenticate,
      limits: this.limits,
      sessions: this.sessions,
      stats: this.stats,
      notify: (app, event, data) => this.notify(app, event, data),
    };
    const openSession = (wire: Wire) => new Session(sessionContext, wire);
    this.ws = new WsTransport(
      {
        maxPayload: options.maxPayloadBytes,
        heartbeatMs: options.heartbeatMs,
        maxBufferedBytes: options.maxBufferedBytes,
        maxConnections: options.maxConnections,
        allowedOrigins: options.allowedOrigins,
        paths: ['/', '/ws'],
      },
      { open: openSession },
    );
    // Foony's fallback for networks that block WebSocket upgrades: the same sessions over HTTP.
    this.longPoll = new LongPollTransport(
      {
        prefixes: ['', '/ws'],
        // A send body may carry several records (a 1000-member batch among them).
        maxBodyBytes: Math.max(options.maxPayloadBytes, 1024 * 1024),
        maxQueuedBytes: options.maxBufferedBytes,
        allowedOrigins: options.allowedOrigins,
        maxSessions: options.maxConnections,
      },
      { open: openSession },
    );
    this.metrics = createMetrics({
      stats: this.stats,
      transport: this.ws.counters,
      connections: () => this.sessions.size,
      channels: () => this.router.channelCount,
      webhookQueueDepth: () => this.store.webhookQueueDepth(),
    });
    this.rest = new RestApi({
      engine,
      tokens: this.tokens,
      maxTokenTtlMs: options.maxTokenTtlMs,
      notify: (app, event, data) => this.notify(app, event, data),
    });
    this.cors = new Cors(options.allowedOrigins);
    this.api = this.buildApi();
    this.admin = new AdminConsole(this, options.adminKey);
    this.http = createServer((req, res) => void this.serve(req, res));
    this.http.headersTimeout = 10_000;
    this.http.requestTimeout = 30_000;
    this.ws.attach(this.http);
  }

  static async start(partial: Partial<ServerOptions> = {}): Promise<HubbubServer> {
    const options = { ...DEFAULT_SERVER_OPTIONS, ...partial };
    const { key, source } = resolveSigningKey(options.signingKey, options.dataDir);
    const engine = options.engine ?? new MemoryEngine(options.retention);
    const store = options.store ?? (await openStore({ postgres: options.postgres, dataDir: options.dataDir }));
    const server = new HubbubServer(options, engine, store, source, key);
    await engine.start(server.router);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject);
      server.http.listen(options.port, options.host, () => resolve());
    });
    server.webhooks.start();
    if (options.watchTables?.length) {
      if (!options.postgres) throw new HubbubError(ErrorCode.BadFrame, '--watch-table needs --postgres');
      server.changeFeed = new ChangeFeed(
        { url: options.postgres, app: options.watchApp ?? 'default', tables: options.watchTables, onError: (err) => server.log.warn({ err: err.message }, 'change feed') },
        engine,
        store,
      );
      await server.changeFeed.start();
    }
    return server;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get connectionCount(): number {
    return this.ws.connectionCount + this.longPoll.sessionCount;
  }

  get transportCounters(): WsTransport['counters'] {
    return this.ws.counters;
  }

  /** This node's id: the engine's when it has one (Redis), else a fixed one for the process. */
  get nodeId(): string {
    return (this.engine as { nodeId?: string }).nodeId ?? `local-${process.pid}`;
  }

  /** Something webhooks may want to hear about. Queued durably; never fails the caller. */
  notify(app: string, type: WebhookEventType, data: unknown): void {
    if (!this.webhooks.configured) return;
    this.webhooks.emit(app, type, data).catch((err) => this.log.warn({ err: (err as Error).message }, 'webhook enqueue failed'));
  }

  /**
   * Drain: stop accepting, tell every client to reconnect elsewhere (1012) after flushing what is
   * queued for it, stop the background workers, then close the engine and the store.
   */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.admin.stop();
    await this.ws.close();
    this.longPoll.close();
    await this.changeFeed?.stop();
    await this.webhooks.stop();
    this.http.closeAllConnections();
    await stopped;
    await this.engine.close();
    await this.store.close();
  }

  /** Plain-text and page routes first; everything else is the JSON API. */
  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith('/admin')) {
      try {
        if (await this.admin.handle(req, res, path)) return;
      } catch (err) {
        const e = err instanceof HubbubError ? err : new HubbubError(ErrorCode.Server, 'internal server error');
        return sendJson(res, e.statusCode, { error: e.toJSON() });
      }
    }
    // Everything below (the API, long-polling) is open to pages on other origins.
    if (this.cors.handle(req, res)) return;
    if (this.longPoll.handle(req, res)) return;
    if (req.method === 'GET' && path === '/metrics') {
      const text = await this.metrics.metrics();
      res.writeHead(200, { 'content-type': this.metrics.contentType });
      return void res.end(text);
    }
    return this.api.handle(req, res);
  }

  /** Ready when the engine and the store answer. */
  async readiness(): Promise<{ ready: boolean; engine: string; store: string }> {
    const check = async (fn: () => Promise<unknown>) => fn().then(() => 'ok', (err: Error) => err.message);
    const [engine, store] = await Promise.all([check(() => this.engine.ping?.() ?? Promise.resolve()), check(() => this.store.ping())]);
    return { ready: engine === 'ok' && store === 'ok', engine, store };
  }

  private buildApi(): HttpApi {
    const api = new HttpApi(this.options.maxPayloadBytes);
    const who = (req: IncomingMessage) => authenticateHeader(req.headers.authorization, this.tokens, this.keys);
    const channelParam = (raw: string) => {
      assertChannelName(raw);
      return raw;
    };
    return api
      .route('GET', /^\/healthz$/, async () => ({ ok: true, uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000) }))
      .route('GET', /^\/readyz$/, async () => {
        const r = await this.readiness();
        if (!r.ready) throw new HubbubError(ErrorCode.Bootstrap, `not ready: engine ${r.engine}, store ${r.store}`, 503);
        return r;
      })
      .route('POST', /^\/auth\/token$/, async (req) => this.requestToken(await who(req), await api.json(req)))
      .route('GET', /^\/time$/, async () => [Date.now()])
      .route('POST', /^\/keys\/([^/]+)\/requestToken$/, async (req, [name]) => this.rest.requestToken(await who(req), name, await api.json(req)))
      .route('POST', /^\/channels\/([^/]+)\/messages$/, async (req, [raw]) => {
        const channel = channelParam(raw);
        return this.rest.publish(await who(req), channel, await api.json(req));
      })
      .route('GET', /^\/channels\/([^/]+)\/messages$/, async (req, [raw]) => this.rest.history(await who(req), channelParam(raw), queryOf(req)))
      .route('GET', /^\/channels\/([^/]+)\/presence$/, async (req, [raw]) => this.rest.presence(await who(req), channelParam(raw), queryOf(req)))
      .route('POST', /^\/sync\/documents$/, async (req) => {
        const body = (await api.json(req)) as { name?: unknown; data?: unknown };
        return this.documents.create(await who(req), body.name, body.data ?? null);
      })
      .route('GET', /^\/sync\/documents$/, async (req) => ({
        documents: await this.documents.list(await who(req), queryOf(req).get('prefix') ?? undefined),
      }))
      .route('GET', /^\/sync\/documents\/([^/]+)$/, async (req, [name]) => this.documents.get(await who(req), name))
      .route('PUT', /^\/sync\/documents\/([^/]+)$/, async (req, [name]) => {
        const body = (await api.json(req)) as { data?: unknown; revision?: unknown };
        return this.documents.update(await who(req), name, body.data ?? null, body.revision);
      })
      .route('DELETE', /^\/sync\/documents\/([^/]+)$/, async (req, [name]) => {
        const q = queryOf(req);
        return this.documents.delete(await who(req), name, q.has('revision') ? Number(q.get('revision')) : undefined);
      });
  }

  /** `POST /auth/token`: an API key asks for a short-lived JWT for one of its clients. */
  private async requestToken(identity: RestIdentity, body: unknown): Promise<unknown> {
    if (!identity.viaKey) throw new HubbubError(ErrorCode.BadAuth, 'token requests need an API key, not a token');
    const req = (body ?? {}) as { clientId?: unknown; ttl?: unknown; capability?: unknown };
    if (typeof req.clientId !== 'string') throw new HubbubError(ErrorCode.BadFrame, 'body needs a string "clientId"');
    const ttlMs = req.ttl === undefined ? 3_600_000 : parseDuration(req.ttl, 'ttl');
    if (ttlMs <= 0 || ttlMs > this.options.maxTokenTtlMs) {
      throw new HubbubError(ErrorCode.BadFrame, `ttl must be more than 0 and at most ${this.options.maxTokenTtlMs / 1000} s`);
    }
    let capability: Capability | undefined = identity.capability;
    if (req.capability !== undefined) {
      capability = parseCapability(req.capability);
      if (!isCapabilitySubset(capability, identity.capability)) {
        throw new HubbubError(ErrorCode.Capability, 'requested capability is wider than the API key allows');
      }
    }
    const minted = await this.tokens.mint({ app: identity.app, clientId: req.clientId, ttlMs, capability });
    return { token: minted.token, expiresAt: minted.expiresAt, clientId: req.clientId };
  }
}

export { DEFAULT_RETENTION };
