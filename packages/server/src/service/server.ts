import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { pino, type Logger } from 'pino';
import { Stats } from '../core/stats.js';
import { Router } from '../core/router.js';
import type { SessionLimits } from '../core/session-limits.js';
import { SessionRegistry } from '../core/session-registry.js';
import { processLog } from '../core/log.js';
import { appOf, channelOf } from '../core/outbound.js';
import { DEFAULT_RETENTION } from '../engine/retention.js';
import type { Engine } from '../core/engine.js';
import { MemoryEngine } from '../engine/memory.js';
import type { WsTransport } from '../transport/ws.js';
import type { LongPollTransport } from '../compat/dialects.js';
import type { SseTransport } from '../transport/sse.js';
import { createMetrics } from './metrics.js';
import { Cors } from './cors.js';
import { AdminConsole } from './admin.js';
import { KeyStore } from './keys.js';
import { TokenAuthority } from './tokens.js';
import { RestApi } from './rest.js';
import { CredentialRateLimiter } from './rest-rate-limit.js';
import { Documents } from './documents.js';
import { SealedCursor } from './sealed-cursor.js';
import type { ChangeFeed } from './change-feed.js';
import { WebhookDispatcher, type WebhookEventType } from './webhooks/dispatcher.js';
import type { Store } from './store/store.js';
import { HEADERS_TIMEOUT_MS, HTTP_IDLE_TIMEOUT_MS, REQUEST_TIMEOUT_MS, resolveServerOptions, sessionLimitsOf, type ServerOptions } from './server-options.js';
import { createTransports } from './transports.js';
import { buildApiRoutes, type ApiRoutes } from './api-routes.js';
import { dispatcher } from './dispatch.js';
import { watchRevocations } from './revocation.js';
import { closeAfterFailedStart, keepPrivate, listen, openServerStore, prepareDataDir, startChangeFeed, startEngine } from './startup.js';

export { DEFAULT_SERVER_OPTIONS, type ServerOptions } from './server-options.js';
export { REVOCATION_CHECK_MS } from './revocation.js';

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
  private readonly limits: SessionLimits;
  readonly documents: Documents;
  readonly webhooks: WebhookDispatcher;
  readonly stats = new Stats();
  readonly metrics: Registry;
  readonly startedAt = Date.now();
  readonly admin: AdminConsole;
  changeFeed?: ChangeFeed;
  private revocationSweep?: NodeJS.Timeout;
  private readonly routes: ApiRoutes;

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
    this.limits = sessionLimitsOf(options);
    const { ws, longPoll, sse, admission } = createTransports({
      options,
      limits: this.limits,
      engine,
      router: this.router,
      sessions: this.sessions,
      stats: this.stats,
      tokens: this.tokens,
      keys: this.keys,
      signingKey,
      notify: (app, event, data) => this.notify(app, event, data),
      log: this.log,
    });
    this.ws = ws;
    this.longPoll = longPoll;
    this.sse = sse;
    this.metrics = createMetrics({
      stats: this.stats,
      transport: this.ws.counters,
      connections: () => this.sessions.size + this.sse.streamCount,
      channels: () => this.router.channelCount,
      admission,
      webhookQueueDepth: () => this.store.webhookQueueDepth(),
      webhookEventsDropped: () => this.webhooks.droppedEvents,
    });
    const rest = new RestApi({
      engine,
      tokens: this.tokens,
      maxTokenTtlMs: options.maxTokenTtlMs,
      notify: (app, event, data) => this.notify(app, event, data),
      publishLimit: new CredentialRateLimiter({ ratePerSecond: options.restPublishRate, burst: options.restPublishBurst }),
      readLimit: new CredentialRateLimiter({ ratePerSecond: options.restReadRate, burst: 2 * options.restReadRate }),
      maxPageBytes: this.limits.maxReplayChunkBytes,
    });
    this.routes = buildApiRoutes({
      maxPayloadBytes: options.maxPayloadBytes,
      maxTokenTtlMs: options.maxTokenTtlMs,
      startedAt: this.startedAt,
      tokens: this.tokens,
      keys: this.keys,
      rest,
      documents: this.documents,
      readiness: () => this.readiness(),
      log: this.log,
      engine,
      router: this.router,
      sessions: this.sessions,
    });
    this.admin = new AdminConsole(this, options.adminKey);
    const serve = dispatcher({
      admin: this.admin,
      adminEnabled: !!options.adminKey,
      port: () => this.port,
      cors: new Cors(options.allowedOrigins),
      sse: this.sse,
      longPoll: this.longPoll,
      metrics: this.metrics,
      api: this.routes.http,
    });
    // Node checks the header and request timeouts only every connectionsCheckingInterval (30 s by
    // default), which let a slow sender hold a socket three times the 10 s headers timeout.
    this.http = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1_000 }, (req, res) => void serve(req, res));
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
    const options = resolveServerOptions(partial);
    const engine = options.engine ?? new MemoryEngine(options.retention);
    let store = options.store;
    let server: HubbubServer | undefined;
    try {
      const signing = await prepareDataDir(options);
      store ??= await openServerStore(options);
      server = new HubbubServer(options, engine, store, signing.source, signing.key);
      const log = server.log;
      if (signing.created) log.warn({ file: signing.created }, 'made a new development signing key: tokens signed by any other key are refused');
      keepPrivate(log, options.dataDir, store);
      await startEngine(engine, server.router);
      await server.routes.start();
      await listen(server.http, options.port, options.host);
      server.webhooks.start();
      server.revocationSweep = watchRevocations(server.keys, server.sessions, server.sse);
      if (options.watchTables?.length) await startChangeFeed(server, options, engine, store, log);
      return server;
    } catch (err) {
      const log = server?.log ?? options.logger ?? processLog;
      await closeAfterFailedStart(log, { server, engine, ownStore: options.store ? undefined : store });
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

  /** Ready when the engine and the store answer. */
  async readiness(): Promise<{ ready: boolean; engine: string; store: string }> {
    const check = async (fn: () => Promise<unknown>) => fn().then(() => 'ok', (err: Error) => err.message);
    const [engine, store] = await Promise.all([check(() => this.engine.ping?.() ?? Promise.resolve()), check(() => this.store.ping())]);
    return { ready: engine === 'ok' && store === 'ok', engine, store };
  }
}

export { DEFAULT_RETENTION };
