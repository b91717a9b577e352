import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { Stats } from '../core/stats.js';
import { createMetrics } from './metrics.js';
import type { AddressInfo } from 'node:net';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, HubbubError, assertChannelName, isCapabilitySubset, parseCapability, type Capability } from '@hubbub/protocol';
import { pino, type Logger } from 'pino';
import { Router } from '../core/router.js';
import { CloseCode } from '../core/close-codes.js';
import { ConnectionIds } from '../core/connection-ids.js';
import { Session } from '../core/session.js';
import { DEFAULT_LIMITS, type SessionLimits } from '../core/session-limits.js';
import { SessionRegistry } from '../core/session-registry.js';
import type { SessionContext } from '../core/session-scope.js';
import type { Dialect } from '../core/dialect.js';
import type { Wire } from '../core/wire.js';
import { dialects } from '../compat/dialects.js';
import { appOf, channelOf } from '../core/outbound.js';
import { DEFAULT_RETENTION, type RetentionOptions } from '../engine/retention.js';
import { type Engine } from '../core/engine.js';
import { MemoryEngine } from '../engine/memory.js';
import { WsTransport } from '../transport/ws.js';
import { LongPollTransport } from '../compat/dialects.js';
import { SseTransport } from '../transport/sse.js';
import { Admission, DEFAULT_MAX_PENDING_CONNECTIONS, messageBound, pendingMessageBound } from '../transport/admission.js';
import { authenticateHeader, authenticator, logAuthFailures, type RestIdentity } from './authenticate.js';
import { Cors } from './cors.js';
import { parseDuration } from './duration.js';
import { HttpApi, queryOf, sendJson } from './http.js';
import { AdminConsole } from './admin.js';
import { serveHomePage } from './home-page.js';
import { serveSdkBundle } from './sdk-bundle.js';
import { KeyStore, looksLikeKey } from './keys.js';
import { DEV_KEY_FILE, ensurePrivateDir, resolveSigningKey, tightenPrivateFile } from './signing-key.js';
import { redactUrl } from './logger.js';
import { TokenAuthority } from './tokens.js';
import { RestApi } from './rest.js';
import { CredentialRateLimiter, DEFAULT_REST_PUBLISH_BURST, DEFAULT_REST_PUBLISH_RATE, DEFAULT_REST_READ_RATE } from './rest-rate-limit.js';
import { DEFAULT_DOCUMENT_LIMITS, Documents } from './documents.js';
import { SealedCursor } from './sealed-cursor.js';
import { ChangeFeed, type WatchedTable } from './change-feed.js';
import { WebhookDispatcher, type WebhookEndpoint, type WebhookEventType } from './webhooks/dispatcher.js';
import { openStore, SqliteStore } from './store/index.js';
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
  /** Authenticated connections at once: WebSockets, long-poll sessions and SSE streams together. */
  maxConnections: number;
  /** Connections not yet authenticated, at once (default `DEFAULT_MAX_PENDING_CONNECTIONS`); past it the oldest is closed. */
  maxPendingConnections?: number;
  maxBufferedBytes: number;
  /** When set, WebSocket upgrades and CORS answer only these origins (else CORS allows any: `*`). */
  allowedOrigins?: string[];
  /** Turns on `/admin`; the page and its stream need this key. */
  adminKey?: string;
  /** Longest lifetime of a token minted by `POST /auth/token` or `POST /keys/{name}/requestToken`. */
  maxTokenTtlMs: number;
  /** REST publishes per second per credential (an API key; a token's app and client id), and how many at once. */
  restPublishRate: number;
  restPublishBurst: number;
  /** REST history and presence reads per second per credential (burst 2x). */
  restReadRate: number;
  /** An HTTP socket silent both ways this long is closed (default 30 s). */
  httpIdleTimeoutMs?: number;
  /** Authenticated connections one app may hold (of --max-connections). */
  maxConnectionsPerApp: number;
  /** Most sync documents one app holds, and the largest one in bytes of JSON. */
  maxDocumentsPerApp: number;
  maxDocumentBytes: number;
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
  /** Let webhooks go to loopback, private and link-local addresses (refused by default: see SECURITY.md). */
  webhookAllowPrivate?: boolean;
  /** Exceptions while private addresses stay refused: host names, addresses, CIDRs (`10.1.0.0/16`). */
  webhookAllowedDestinations?: string[];
  /** Webhook outbox bound per app: items and payload bytes (DEFAULT_WEBHOOK_LIMITS); past it new events are dropped. */
  webhookMaxQueue?: number;
  webhookMaxQueueBytes?: number;
  /** A `message.published` webhook whose message data is larger (as JSON) is sent without it. */
  webhookMaxDataBytes?: number;
  logger?: Logger;
}

/** An HTTP socket with no bytes either way for this long is closed (a held long poll answers sooner). */
const HTTP_IDLE_TIMEOUT_MS = 30_000;

/** How often each node looks for connections whose API key was revoked. */
export const REVOCATION_CHECK_MS = 2_000;

export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  port: 3000,
  host: '0.0.0.0',
  dataDir: '.hubbub',
  heartbeatMs: 15_000,
  maxPayloadBytes: 64 * 1024,
  maxConnections: 10_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxTokenTtlMs: 24 * 3_600_000,
  restPublishRate: DEFAULT_REST_PUBLISH_RATE,
  restPublishBurst: DEFAULT_REST_PUBLISH_BURST,
  restReadRate: DEFAULT_REST_READ_RATE,
  maxConnectionsPerApp: 10_000,
  maxDocumentsPerApp: DEFAULT_DOCUMENT_LIMITS.maxPerApp,
  maxDocumentBytes: DEFAULT_DOCUMENT_LIMITS.maxBytes,
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
  private readonly sse: SseTransport;
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
  private revocationSweep?: NodeJS.Timeout;

  private constructor(
    readonly options: ServerOptions,
    readonly engine: Engine,
    readonly store: Store,
    readonly signingKeySource: 'env' | 'dev-file',
    signingKey: string,
  ) {
    this.documents = new Documents(store, engine, { maxPerApp: options.maxDocumentsPerApp, maxBytes: options.maxDocumentBytes }, new SealedCursor(signingKey));
    this.webhooks = new WebhookDispatcher(store, options.webhooks ?? [], {
      retryBaseMs: options.webhookRetryMs,
      maxDelayMs: options.webhookMaxDelayMs,
      destinations: { allowPrivate: options.webhookAllowPrivate, allow: options.webhookAllowedDestinations },
      maxQueue: options.webhookMaxQueue,
      maxQueueBytes: options.webhookMaxQueueBytes,
      maxMessageDataBytes: options.webhookMaxDataBytes,
      warn: (fields, message) => this.log.warn(fields, message),
    });
    // A document is durable when acknowledged, and so is its webhook: the ack waits for the outbox.
    this.documents.onChange = (app, event) => {
      this.notify(app, 'document.changed', event);
      return this.webhooks.written();
    };
    this.log = options.logger ?? pino({ level: 'info' });
    this.keys = new KeyStore(join(options.dataDir, 'keys.json'));
    this.tokens = new TokenAuthority(signingKey, this.keys);
    this.router = new Router(engine);
    this.router.onOccupancy = (key, occupied) => {
      this.notify(appOf(key), occupied ? 'channel.occupied' : 'channel.vacated', { channel: channelOf(key) });
    };
    this.limits = { ...DEFAULT_LIMITS, keepAliveMs: options.heartbeatMs, maxFrameBytes: options.maxPayloadBytes, ...options.limits };
    const authenticate = authenticator(this.tokens, this.keys, { onFailure: logAuthFailures(this.log) });
    // One context for every session (not one object and closure per connection).
    const sessionContext: SessionContext = {
      // Every node derives the same key from the shared signing key: any node can check a resumed id.
      connectionIds: new ConnectionIds(signingKey),
      engine,
      router: this.router,
      authenticate,
      limits: this.limits,
      sessions: this.sessions,
      stats: this.stats,
      dialects,
      notify: (app, event, data) => this.notify(app, event, data),
      log: this.log,
    };
    const openSession = (wire: Wire, req: IncomingMessage, dialect?: Dialect) => new Session(sessionContext, wire, req.socket.remoteAddress, dialect);
    // One budget for both transports: --max-connections authenticated, a smaller one for the rest.
    const admission = new Admission({
      maxConnections: options.maxConnections,
      maxPending: options.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS,
      maxPerApp: options.maxConnectionsPerApp,
    });
    const maxPendingMessageBytes = pendingMessageBound(this.limits.maxAuthFrameBytes, options.maxPayloadBytes);
    this.ws = new WsTransport(
      {
        maxPayload: options.maxPayloadBytes,
        heartbeatMs: options.heartbeatMs,
        maxBufferedBytes: options.maxBufferedBytes,
        admission,
        maxPendingMessageBytes,
        allowedOrigins: options.allowedOrigins,
        paths: ['/', '/ws'],
        log: this.log,
      },
      { open: openSession },
    );
    // The binary dialect's fallback for networks that block WebSocket upgrades: the same sessions over HTTP.
    this.longPoll = new LongPollTransport(
      {
        prefixes: ['', '/ws'],
        // The same bounds as a WebSocket message: a send body is one message of records.
        maxBodyBytes: messageBound(options.maxPayloadBytes),
        maxConnectBodyBytes: maxPendingMessageBytes,
        maxQueuedBytes: options.maxBufferedBytes,
        allowedOrigins: options.allowedOrigins,
        admission,
      },
      { open: openSession },
      this.log,
    );
    // `GET /sse`: one-way streams of channels, for EventSource; they take places of the same budget.
    this.sse = new SseTransport(
      {
        path: '/sse',
        heartbeatMs: options.heartbeatMs,
        maxBufferedBytes: options.maxBufferedBytes,
        maxChannels: this.limits.maxSubscriptions,
        maxReplayChunkBytes: this.limits.maxReplayChunkBytes,
        allowedOrigins: options.allowedOrigins,
        admission,
      },
      {
        engine,
        router: this.router,
        authenticate: (req, urlToken) => this.streamIdentity(req, urlToken),
        log: (fields, message) => this.log.info(fields, message),
      },
    );
    this.metrics = createMetrics({
      stats: this.stats,
      transport: this.ws.counters,
      connections: () => this.sessions.size + this.sse.streamCount,
      channels: () => this.router.channelCount,
      admission,
      webhookQueueDepth: () => this.store.webhookQueueDepth(),
      webhookEventsDropped: () => this.webhooks.droppedEvents,
    });
    this.rest = new RestApi({
      engine,
      tokens: this.tokens,
      maxTokenTtlMs: options.maxTokenTtlMs,
      notify: (app, event, data) => this.notify(app, event, data),
      publishLimit: new CredentialRateLimiter({ ratePerSecond: options.restPublishRate, burst: options.restPublishBurst }),
      readLimit: new CredentialRateLimiter({ ratePerSecond: options.restReadRate, burst: 2 * options.restReadRate }),
      maxPageBytes: this.limits.maxReplayChunkBytes,
    });
    this.cors = new Cors(options.allowedOrigins);
    this.api = this.buildApi();
    this.admin = new AdminConsole(this, options.adminKey);
    this.http = createServer((req, res) => void this.serve(req, res));
    this.http.headersTimeout = 10_000;
    this.http.requestTimeout = 30_000;
    // A socket that sends nothing at all is never seen by the header timeout: idle sockets are cut, so
    // silent connections cannot hold the process's file descriptors. WebSockets turn this off on upgrade,
    // and long polls are held for less than this.
    this.http.timeout = options.httpIdleTimeoutMs ?? HTTP_IDLE_TIMEOUT_MS;
    this.ws.attach(this.http);
  }

  /**
   * Open everything, all or nothing: when a step fails, what was opened is closed again (nothing is
   * left listening or connected) and the error (50001) names the service, where it is, and the fix.
   */
  static async start(partial: Partial<ServerOptions> = {}): Promise<HubbubServer> {
    const options = { ...DEFAULT_SERVER_OPTIONS, ...partial };
    if (options.watchTables?.length && !options.postgres) {
      throw new HubbubError(ErrorCode.Bootstrap, '--watch-table needs --postgres: the change feed reads PostgreSQL (pass --postgres URL / DATABASE_URL, or drop --watch-table)');
    }
    const engine = options.engine ?? new MemoryEngine(options.retention);
    let store = options.store;
    let server: HubbubServer | undefined;
    try {
      const dataDir = options.dataDir;
      const signing = await startStep(
        () => {
          ensurePrivateDir(dataDir);
          return resolveSigningKey(options.signingKey, dataDir);
        },
        (err) => `cannot use the data dir ${dataDir} (${err.message}): fix its permissions or pass --data-dir / HUBBUB_DATA_DIR`,
      );
      store ??= await startStep(
        () => openStore({ postgres: options.postgres, dataDir }),
        // openStore's 50001 names the store but not where it is or the fix: its cause says what went wrong.
        (err) => {
          const reason = err.cause instanceof Error ? err.cause.message : err.message;
          return options.postgres
            ? `cannot open the PostgreSQL store at ${redactUrl(options.postgres)} (${reason}): start PostgreSQL or fix --postgres / DATABASE_URL`
            : `cannot open the SQLite store in ${dataDir} (${reason}): fix its permissions or pass --data-dir / HUBBUB_DATA_DIR`;
        },
      );
      server = new HubbubServer(options, engine, store, signing.source, signing.key);
      const log = server.log;
      if (signing.created) log.warn({ file: signing.created }, 'made a new development signing key: tokens signed by any other key are refused');
      keepPrivate(log, dataDir, store);
      await startStep(
        () => engine.start(server!.router),
        (err) => (engine.kind === 'redis' ? `${err.message}: start Redis or fix --redis / REDIS_URL` : `cannot start the ${engine.kind} engine (${err.message})`),
      );
      const http = server.http;
      await startStep(
        () =>
          new Promise<void>((resolve, reject) => {
            http.once('error', reject);
            http.listen(options.port, options.host, () => {
              http.off('error', reject);
              resolve();
            });
          }),
        (err) => listenProblem(err, options.port, options.host),
      );
      server.webhooks.start();
    server.watchRevocations();
      if (options.watchTables?.length) {
        const url = options.postgres!;
        await startStep(
          () => {
            server!.changeFeed = new ChangeFeed(
              { url, app: options.watchApp ?? 'default', tables: options.watchTables!, onError: (err) => log.warn({ err: err.message }, 'change feed') },
              engine,
              store!,
            );
            return server!.changeFeed.start();
          },
          (err) => `cannot watch tables on PostgreSQL at ${redactUrl(url)} (${err.message}): create the tables or fix --watch-table / HUBBUB_WATCH_TABLE`,
        );
      }
      return server;
    } catch (err) {
      if (server) await server.close().catch(() => {});
      else {
        await engine.close().catch(() => {});
        if (store && !options.store) await store.close().catch(() => {});
      }
      throw err;
    }
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get connectionCount(): number {
    return this.ws.connectionCount + this.longPoll.sessionCount + this.sse.streamCount;
  }

  get transportCounters(): WsTransport['counters'] {
    return this.ws.counters;
  }

  /** This node's id: the engine's when it has one (Redis), else a fixed one for the process. */
  get nodeId(): string {
    return (this.engine as { nodeId?: string }).nodeId ?? `local-${process.pid}`;
  }

  /**
   * Revoking an API key (`hubbub keys revoke`, which rewrites keys.json) ends, within
   * `REVOCATION_CHECK_MS`, every connection whose credentials came from that key: the key itself,
   * tokens it signed, tokens `POST /auth/token` minted with it. Each node checks its own data dir's
   * keys file, so nodes that share keys must share that file.
   */
  private watchRevocations(): void {
    this.revocationSweep = setInterval(() => {
      const revoked = new Set(this.keys.list().filter((k) => k.revokedAt).map((k) => `${k.app}.${k.keyId}`));
      if (revoked.size === 0) return;
      for (const session of [...this.sessions.all()]) {
        if (session.keyName !== undefined && revoked.has(session.keyName)) session.close(CloseCode.KeyRevoked, 'API key revoked');
      }
      this.sse.closeWhere((identity) => identity.keyName !== undefined && revoked.has(identity.keyName), 'API key revoked');
    }, REVOCATION_CHECK_MS);
    this.revocationSweep.unref();
  }

  /** Something webhooks may want to hear about. Queued (written durably in batches); never fails the caller. */
  notify(app: string, type: WebhookEventType, data: unknown): void {
    if (!this.webhooks.configured) return;
    this.webhooks.emit(app, type, data);
  }

  /**
   * Drain: stop accepting, tell every client to reconnect elsewhere (1012) after flushing what is
   * queued for it, stop the background workers, then close the engine and the store.
   */
  async close(): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.http.close(() => resolve()));
    clearInterval(this.revocationSweep);
    this.admin.stop();
    await this.ws.close();
    this.longPoll.close();
    this.sse.close();
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
    try {
      if (path.startsWith('/admin') && (await this.admin.handle(req, res, path))) return;
      // The pages a newcomer opens, and the SDK as a public script (it sends its own CORS header).
      if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
        return serveHomePage(req, res, { adminEnabled: !!this.options.adminKey, port: this.port });
      }
      if (await serveSdkBundle(req, res, path)) return;
    } catch (err) {
      const e = err instanceof HubbubError ? err : new HubbubError(ErrorCode.Server, 'internal server error');
      return sendJson(res, e.statusCode, { error: e.toJSON() });
    }
    // Everything below (the API, long-polling) is open to pages on other origins.
    if (this.cors.handle(req, res)) return;
    if (this.sse.handle(req, res)) return;
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
    const onFailure = logAuthFailures(this.log);
    const who = (req: IncomingMessage) => authenticateHeader(req.headers.authorization, this.tokens, this.keys, { onFailure, address: req.socket.remoteAddress });
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
      .route('GET', /^\/sync\/documents$/, async (req) => this.documents.list(await who(req), queryOf(req)))
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

  /**
   * Who opens an SSE stream: the `Authorization` header (a token, or an API key for servers), else the
   * `token` query parameter, for an EventSource, which cannot send headers. Never an API key in a URL:
   * proxies and access logs keep URLs.
   */
  private async streamIdentity(req: IncomingMessage, urlToken: string | undefined): Promise<RestIdentity> {
    if (urlToken !== undefined && looksLikeKey(urlToken)) {
      throw new HubbubError(ErrorCode.BadAuth, 'an API key is never accepted in a URL: send it in Authorization: Bearer, or put a token in ?token=');
    }
    const header = req.headers.authorization ?? (urlToken === undefined ? undefined : `Bearer ${urlToken}`);
    return authenticateHeader(header, this.tokens, this.keys, { onFailure: logAuthFailures(this.log), address: req.socket.remoteAddress });
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
    const minted = await this.tokens.mint({ app: identity.app, clientId: req.clientId, ttlMs, capability, keyName: identity.key?.name });
    return { token: minted.token, expiresAt: minted.expiresAt, clientId: req.clientId };
  }
}

/** Run one start-up step; a failure becomes a 50001 whose message `explain` writes: the service, where, the fix. */
async function startStep<T>(run: () => T | Promise<T>, explain: (err: Error & { code?: string }) => string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const error = new HubbubError(ErrorCode.Bootstrap, explain(err as Error));
    error.cause = err;
    throw error;
  }
}

function listenProblem(err: Error & { code?: string }, port: number, host: string): string {
  if (err.code === 'EADDRINUSE') return `port ${port} is in use: stop the other process or pass --port / PORT`;
  if (err.code === 'EACCES') return `port ${port} needs privileges this process lacks: pick a port above 1023 with --port / PORT`;
  return `cannot listen on ${host}:${port} (${err.message}): fix --host / HOST or --port / PORT`;
}

/**
 * The data dir's secrets stay owner-only: files made by older versions (or copied in) that others
 * could read are narrowed to 0600, and said so; a loose data dir itself is only warned about.
 */
function keepPrivate(log: Logger, dataDir: string, store: Store): void {
  const files = [join(dataDir, 'keys.json'), join(dataDir, DEV_KEY_FILE)];
  if (store instanceof SqliteStore) files.push(store.path, `${store.path}-wal`, `${store.path}-shm`);
  for (const file of files) {
    const was = tightenPrivateFile(file);
    if (was !== undefined) log.warn({ file, was: `0${was.toString(8)}` }, `${file} was readable by other users: narrowed to 0600`);
  }
  const dirMode = statSync(dataDir).mode & 0o777;
  if (dirMode & 0o077) log.warn({ dataDir, mode: `0${dirMode.toString(8)}` }, `the data dir ${dataDir} is open to other users: chmod 700 it`);
}

export { DEFAULT_RETENTION };
