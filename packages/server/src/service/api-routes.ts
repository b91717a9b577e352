/** The JSON HTTP API's route table: health, tokens, REST publish and reads, sync documents. */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { ErrorCode, HubbubError, assertChannelName, isCapabilitySubset, parseCapability, type Capability } from '@hubbub/protocol';
import { authenticateHeader, logAuthFailures, type RestIdentity } from './authenticate.js';
import { parseDuration } from './duration.js';
import { HttpApi, queryOf } from './http.js';
import type { KeyStore } from './keys.js';
import type { TokenAuthority } from './tokens.js';
import type { RestApi } from './rest.js';
import type { Documents } from './documents.js';

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
}

export function buildApiRoutes(parts: ApiParts): HttpApi {
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
