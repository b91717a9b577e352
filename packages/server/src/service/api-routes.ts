/** The JSON HTTP API's route table: health, tokens, REST publish and reads, sync documents. */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { ErrorCode, HubbubError, assertChannelName, isCapabilitySubset, parseCapability, type Capability } from '@hubbub/protocol';
import { authenticateHeader, logAuthFailures, type RestIdentity } from './authenticate.js';
import { parseDuration } from './duration.js';
import { HttpApi, HttpReply, queryOf } from './http.js';
import type { KeyStore } from './keys.js';
import type { TokenAuthority } from './tokens.js';
import type { RestApi } from './rest.js';
import type { Documents } from './documents.js';
import type { Engine } from '../core/engine.js';
import type { Router } from '../core/router.js';
import type { LiveSession } from '../core/session-registry.js';
import { PusherHttpApi, PusherReply, type PusherHttpBackend, type PusherKey } from '../compat/pusher/http-api.js';
import { PusherTerminations } from '../compat/pusher/http-terminate.js';

/** What the routes answer from. */
export interface ApiParts {
  maxPayloadBytes: number;
  /** Longest lifetime of a token `POST /auth/token` mints. */
  maxTokenTtlMs: number;
  startedAt: number;
  tokens: TokenAuthority;
  keys: KeyStore;
  rest: RestApi;
  documents: Documents;
  readiness(): Promise<{ ready: boolean; engine: string; store: string }>;
  log: Logger;
  /** What the Pusher HTTP API reads channels from and ends connections through. */
  engine: Engine;
  router: Router;
  sessions: { all(): Iterable<LiveSession> };
}

/** The routes, and what they listen to on the engine once it has started (so every node hears them). */
export interface ApiRoutes {
  http: HttpApi;
  start(): Promise<void>;
}

export function buildApiRoutes(parts: ApiParts): ApiRoutes {
  const terminations = new PusherTerminations(parts.engine, parts.router, parts.sessions, parts.log);
  const http = jsonRoutes(parts);
  pusherRoutes(http, new PusherHttpApi(pusherBackend(parts, terminations)));
  return { http, start: () => terminations.start() };
}

function jsonRoutes(parts: ApiParts): HttpApi {
  const { rest, documents } = parts;
  const api = new HttpApi(parts.maxPayloadBytes, parts.log);
  const onFailure = logAuthFailures(parts.log);
  const who = (req: IncomingMessage) => authenticateHeader(req.headers.authorization, parts.tokens, parts.keys, { onFailure, address: req.socket.remoteAddress });
  const channelParam = (raw: string) => {
    assertChannelName(raw);
    return raw;
  };
  return api
    .route('GET', /^\/healthz$/, async () => ({ ok: true, uptimeSeconds: Math.round((Date.now() - parts.startedAt) / 1000) }))
    .route('GET', /^\/readyz$/, async () => {
      const r = await parts.readiness();
      if (!r.ready) throw new HubbubError(ErrorCode.Bootstrap, `not ready: engine ${r.engine}, store ${r.store}`, 503);
      return r;
    })
    .route('POST', /^\/auth\/token$/, async (req) => requestToken(parts, await who(req), await api.json(req)))
    .route('GET', /^\/time$/, async () => [Date.now()])
    .route('POST', /^\/keys\/([^/]+)\/requestToken$/, async (req, [name]) => rest.requestToken(await who(req), name, await api.json(req)))
    .route('POST', /^\/channels\/([^/]+)\/messages$/, async (req, [raw]) => {
      const channel = channelParam(raw);
      return rest.publish(await who(req), channel, await api.json(req));
    })
    .route('GET', /^\/channels\/([^/]+)\/messages$/, async (req, [raw]) => rest.history(await who(req), channelParam(raw), queryOf(req)))
    .route('GET', /^\/channels\/([^/]+)\/presence$/, async (req, [raw]) => rest.presence(await who(req), channelParam(raw), queryOf(req)))
    .route('POST', /^\/sync\/documents$/, async (req) => {
      const body = (await api.json(req)) as { name?: unknown; data?: unknown };
      return documents.create(await who(req), body.name, body.data ?? null);
    })
    .route('GET', /^\/sync\/documents$/, async (req) => documents.list(await who(req), queryOf(req)))
    .route('GET', /^\/sync\/documents\/([^/]+)$/, async (req, [name]) => documents.get(await who(req), name))
    .route('PUT', /^\/sync\/documents\/([^/]+)$/, async (req, [name]) => {
      const body = (await api.json(req)) as { data?: unknown; revision?: unknown };
      return documents.update(await who(req), name, body.data ?? null, body.revision);
    })
    .route('DELETE', /^\/sync\/documents\/([^/]+)$/, async (req, [name]) => {
      const q = queryOf(req);
      return documents.delete(await who(req), name, q.has('revision') ? Number(q.get('revision')) : undefined);
    });
}

/**
 * Pusher's HTTP API under `/apps/{app_id}/`, signed by query parameters instead of a header (see
 * compat/pusher/request-signing.ts), on the same channel space as the routes above.
 */
function pusherRoutes(api: HttpApi, pusher: PusherHttpApi): void {
  const reply = (out: unknown) => (out instanceof PusherReply ? new HttpReply(out.body, out.headers, out.status) : out);
  api
    .route('POST', /^\/apps\/([^/]+)\/events$/, async (req, [app]) => reply(await pusher.events(req, app)))
    .route('POST', /^\/apps\/([^/]+)\/batch_events$/, async (req, [app]) => reply(await pusher.batchEvents(req, app)))
    .route('GET', /^\/apps\/([^/]+)\/channels$/, async (req, [app]) => pusher.channels(req, app))
    .route('GET', /^\/apps\/([^/]+)\/channels\/([^/]+)$/, async (req, [app, channel]) => pusher.channel(req, app, channel))
    .route('GET', /^\/apps\/([^/]+)\/channels\/([^/]+)\/users$/, async (req, [app, channel]) => pusher.users(req, app, channel))
    .route('POST', /^\/apps\/([^/]+)\/users\/([^/]+)\/terminate_connections$/, async (req, [app, user]) => pusher.terminate(req, app, user));
}

/** The node's parts as the Pusher HTTP API needs them; a trigger goes through `RestApi.publish` like any REST publish. */
function pusherBackend(parts: ApiParts, terminations: PusherTerminations): PusherHttpBackend {
  return {
    key: (name) => {
      const { app, name: keyName, secret, capability } = parts.keys.byName(name);
      return { app, name: keyName, secret, ...(capability ? { capability } : {}) };
    },
    publish: async (key, channel, message, publisherConnectionId) => {
      const out = await parts.rest.publish(keyIdentity(key), channel, message, publisherConnectionId);
      return out instanceof HttpReply ? new PusherReply(out.status, out.body, out.headers) : undefined;
    },
    presenceMembers: (channelKey) => parts.engine.presenceMembers(channelKey),
    localSubscribers: (channelKey) => parts.router.subscriberCount(channelKey),
    localChannelKeys: () => parts.router.subscribedKeys(),
    terminate: (app, userId) => terminations.terminate(app, userId),
  };
}

/** A Pusher request's identity as REST sees a key's: it publishes as no client, in the key's own dedup scope. */
function keyIdentity(key: PusherKey): RestIdentity {
  const keyId = key.name.slice(key.name.indexOf('.') + 1);
  const capability = key.capability ? { capability: key.capability } : {};
  return { app: key.app, clientId: `key:${key.name}`, keyName: key.name, ...capability, viaKey: true, key: { app: key.app, keyId, name: key.name, secret: key.secret, ...capability } };
}

/** `POST /auth/token`: an API key asks for a short-lived JWT for one of its clients. */
async function requestToken(parts: ApiParts, identity: RestIdentity, body: unknown): Promise<unknown> {
  if (!identity.viaKey) throw new HubbubError(ErrorCode.BadAuth, 'token requests need an API key, not a token');
  const req = (body ?? {}) as { clientId?: unknown; ttl?: unknown; capability?: unknown };
  if (typeof req.clientId !== 'string') throw new HubbubError(ErrorCode.BadFrame, 'body needs a string "clientId"');
  const ttlMs = req.ttl === undefined ? 3_600_000 : parseDuration(req.ttl, 'ttl');
  if (ttlMs <= 0 || ttlMs > parts.maxTokenTtlMs) {
    throw new HubbubError(ErrorCode.BadFrame, `ttl must be more than 0 and at most ${parts.maxTokenTtlMs / 1000} s`);
  }
  let capability: Capability | undefined = identity.capability;
  if (req.capability !== undefined) {
    capability = parseCapability(req.capability);
    if (!isCapabilitySubset(capability, identity.capability)) {
      throw new HubbubError(ErrorCode.Capability, 'requested capability is wider than the API key allows');
    }
  }
  const minted = await parts.tokens.mint({ app: identity.app, clientId: req.clientId, ttlMs, capability, keyName: identity.key?.name });
  return { token: minted.token, expiresAt: minted.expiresAt, clientId: req.clientId };
}
