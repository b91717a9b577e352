/**
 * The three ways a client connects to `hubbub serve` (WebSocket, the binary dialect's long-polling,
 * SSE) and the one connection budget they share.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { ConnectionIds } from '../core/connection-ids.js';
import type { Dialect } from '../core/dialect.js';
import type { Engine } from '../core/engine.js';
import type { Router } from '../core/router.js';
import { Session } from '../core/session.js';
import type { SessionLimits } from '../core/session-limits.js';
import type { SessionRegistry } from '../core/session-registry.js';
import type { SessionContext } from '../core/session-scope.js';
import type { Stats } from '../core/stats.js';
import type { Wire } from '../core/wire.js';
import { dialects, isPusherPath, LongPollTransport, PUSHER_PATH_PREFIX, PusherEndpoint } from '../compat/dialects.js';
import { WsTransport } from '../transport/ws.js';
import { SseTransport } from '../transport/sse.js';
import { Admission, DEFAULT_MAX_PENDING_CONNECTIONS, messageBound, pendingMessageBound } from '../transport/admission.js';
import { authenticateHeader, authenticator, logAuthFailures, type RestIdentity } from './authenticate.js';
import { looksLikeKey, type KeyStore } from './keys.js';
import type { TokenAuthority } from './tokens.js';
import type { ServerOptions } from './server-options.js';

/** What the transports are built from: the node's parts, and its options. */
export interface TransportParts {
  options: ServerOptions;
  limits: SessionLimits;
  engine: Engine;
  router: Router;
  sessions: SessionRegistry;
  stats: Stats;
  tokens: TokenAuthority;
  keys: KeyStore;
  /** Resumed connection ids are checked with a key derived from this, the same on every node. */
  signingKey: string;
  notify: NonNullable<SessionContext['notify']>;
  log: Logger;
}

export interface Transports {
  ws: WsTransport;
  longPoll: LongPollTransport;
  sse: SseTransport;
  admission: Admission;
}

export function createTransports(parts: TransportParts): Transports {
  const { options, limits, log } = parts;
  // One context for every session (not one object and closure per connection).
  const sessionContext: SessionContext = {
    // Every node derives the same key from the shared signing key: any node can check a resumed id.
    connectionIds: new ConnectionIds(parts.signingKey),
    engine: parts.engine,
    router: parts.router,
    authenticate: authenticator(parts.tokens, parts.keys, { onFailure: logAuthFailures(log) }),
    limits,
    sessions: parts.sessions,
    stats: parts.stats,
    dialects,
    notify: parts.notify,
    log,
  };
  const openSession = (wire: Wire, req: IncomingMessage, dialect?: Dialect) => new Session(sessionContext, wire, req.socket.remoteAddress, dialect);
  // pusher-js connects to `/app/{key}`: the same sessions' router, engine and registry, in Pusher's
  // protocol. Only keys made as Pusher keys answer there: any other key's id is not a credential.
  const pusher = new PusherEndpoint({
    session: sessionContext,
    findKey: (keyId) => parts.keys.pusherKey(keyId),
    activityTimeoutMs: options.heartbeatMs,
    maxPresenceMembers: options.pusherMaxPresenceMembers,
  });
  const openWebSocket = (wire: Wire, req: IncomingMessage) => (isPusherPath(req.url) ? pusher.open(wire, req.url!) : openSession(wire, req));
  // One budget for both transports: --max-connections authenticated, a smaller one for the rest.
  const admission = new Admission({
    maxConnections: options.maxConnections,
    maxPending: options.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS,
    maxPerApp: options.maxConnectionsPerApp,
  });
  const maxPendingMessageBytes = pendingMessageBound(limits.maxAuthFrameBytes, options.maxPayloadBytes);
  const ws = new WsTransport(
    {
      maxPayload: options.maxPayloadBytes,
      heartbeatMs: options.heartbeatMs,
      maxBufferedBytes: options.maxBufferedBytes,
      admission,
      maxPendingMessageBytes,
      allowedOrigins: options.allowedOrigins,
      paths: ['/', '/ws'],
      pathPrefixes: [PUSHER_PATH_PREFIX],
      log,
    },
    { open: openWebSocket },
  );
  // The binary dialect's fallback for networks that block WebSocket upgrades: the same sessions over HTTP.
  const longPoll = new LongPollTransport(
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
    log,
  );
  // `GET /sse`: one-way streams of channels, for EventSource; they take places of the same budget.
  const sse = new SseTransport(
    {
      path: '/sse',
      heartbeatMs: options.heartbeatMs,
      maxBufferedBytes: options.maxBufferedBytes,
      maxChannels: limits.maxSubscriptions,
      maxReplayChunkBytes: limits.maxReplayChunkBytes,
      allowedOrigins: options.allowedOrigins,
      admission,
    },
    {
      engine: parts.engine,
      router: parts.router,
      authenticate: (req, urlToken) => streamIdentity(parts, req, urlToken),
      log: (fields, message) => log.info(fields, message),
    },
  );
  return { ws, longPoll, sse, admission };
}

/**
 * Who opens an SSE stream: the `Authorization` header (a token, or an API key for servers), else the
 * `token` query parameter, for an EventSource, which cannot send headers. Never an API key in a URL:
 * proxies and access logs keep URLs.
 */
async function streamIdentity(parts: TransportParts, req: IncomingMessage, urlToken: string | undefined): Promise<RestIdentity> {
  if (urlToken !== undefined && looksLikeKey(urlToken)) {
    throw new HubbubError(ErrorCode.BadAuth, 'an API key is never accepted in a URL: send it in Authorization: Bearer, or put a token in ?token=');
  }
  const header = req.headers.authorization ?? (urlToken === undefined ? undefined : `Bearer ${urlToken}`);
  return authenticateHeader(header, parts.tokens, parts.keys, { onFailure: logAuthFailures(parts.log), address: req.socket.remoteAddress });
}
