import { randomBytes } from 'node:crypto';
import {
  ErrorCode,
  HubbubError,
  assertAllowed,
  isCapabilitySubset,
  isValidClientId,
  parseCapability,
  type Capability,
} from '@hubbub/protocol';
import { channelKeyOf } from '../core/outbound.js';
import type { Engine, MessageDraft, StoredMessage } from '../core/engine.js';
import {
  MAX_REST_BATCH,
  checkPublishItem,
  messageIdOf,
  publishMember,
  restMember,
  restMessages,
  tokenDetails,
  type PublishItem,
  type RestPresenceMember,
  type TokenDetails,
} from '../compat/dialects.js';
import type { WebhookEventType } from './webhooks/dispatcher.js';
import type { RestIdentity } from './authenticate.js';
import { HttpReply } from './http.js';
import type { TokenAuthority } from './tokens.js';
import type { CredentialRateLimiter } from './rest-rate-limit.js';

const DEFAULT_HISTORY_LIMIT = 100;
const MAX_HISTORY_LIMIT = 1000;
const DEFAULT_TOKEN_TTL_MS = 3_600_000;

export interface RestContext {
  engine: Engine;
  tokens: TokenAuthority;
  /** Longest token lifetime; longer `ttl`s are cut down to it. */
  maxTokenTtlMs: number;
  notify(app: string, type: WebhookEventType, data: unknown): void;
  /** Publishes per credential: past it, 429 (42900) with `Retry-After`. */
  publishLimit: CredentialRateLimiter;
  /** History and presence reads per credential, likewise. */
  readLimit: CredentialRateLimiter;
  /** Most bytes of messages one history page holds; past it the page is cut and `Link` leads on. */
  maxPageBytes: number;
}

/**
 * The channel and token routes in the shapes the binary dialect's SDK's `Rest` client reads (its
 * `rest-shapes`, re-exported by compat/dialects.ts): publish (one message or an array), history as a
 * bare array paged by a `Link` header, presence as a bare array, and token requests answered with
 * `TokenDetails`.
 */
export class RestApi {
  constructor(private readonly ctx: RestContext) {}

  /**
   * `POST /channels/{ch}/messages`. A body object is one message; an array is one batch (one id,
   * one serial) whose id, client id and `ephemeral` are its first element's. Each member counts
   * against the credential's publish rate; past it the answer is a 429 (42900) with `Retry-After`.
   * `publisherConnectionId` names a connection the message must not reach (when it has echo off), for
   * HTTP APIs that exclude one by id (Pusher's `socket_id`); the channel name is checked by the caller.
   */
  async publish(who: RestIdentity, channel: string, body: unknown, publisherConnectionId?: string): Promise<unknown> {
    assertAllowed(who.capability, channel, 'publish');
    const batch = Array.isArray(body);
    const items = (batch ? body : [body]) as unknown[];
    if (items.length === 0 || items.length > MAX_REST_BATCH) {
      throw new HubbubError(ErrorCode.BadFrame, `an array publish holds 1-${MAX_REST_BATCH} messages`);
    }
    items.forEach(checkPublishItem);
    const first = items[0] as PublishItem;
    const messageId = messageIdOf(first) ?? randomBytes(12).toString('base64url');
    const clientId = this.publisherOf(who, items as PublishItem[]);
    const ephemeral = first.ephemeral === true;
    const refused = this.overRate(this.ctx.publishLimit, who, items.length);
    if (refused) return refused;
    const draft: MessageDraft = batch
      ? { name: '', data: null, messageId, messages: (items as PublishItem[]).map(publishMember) }
      : { ...publishMember(first), messageId };
    if (clientId !== undefined) draft.clientId = clientId;
    // A key publishing (as any client id, or as none) has a scope of its own: neither another key nor
    // the named client's own connections can claim its message ids first.
    if (who.viaKey && who.key) draft.dedupScope = keyDedupScope(who.key.name, clientId);
    if (ephemeral) draft.ephemeral = true;
    if (publisherConnectionId !== undefined) draft.connectionId = publisherConnectionId;

    const result = await this.ctx.engine.publish(channelKeyOf(who.app, channel), draft);
    if (!result.duplicate) {
      this.ctx.notify(who.app, 'message.published', {
        channel,
        name: draft.name,
        data: draft.data,
        ...(draft.messages ? { messages: draft.messages } : {}),
        messageId,
        clientId,
        seq: result.seq,
      });
    }
    const reply: Record<string, unknown> = { channel, messageId };
    if (result.seq !== undefined) Object.assign(reply, { serial: result.seq, seq: result.seq });
    reply.duplicate = result.duplicate;
    return reply;
  }

  /**
   * `GET /channels/{ch}/messages?limit&before&direction[&after]`: newest first by default, batches
   * expanded one item per member; a `Link: <…>; rel="next"` header when there is more.
   */
  async history(who: RestIdentity, channel: string, q: URLSearchParams): Promise<HttpReply> {
    assertAllowed(who.capability, channel, 'history');
    const tooFast = this.overRate(this.ctx.readLimit, who, 1, 'REST read');
    if (tooFast) return tooFast;
    const limit = Math.min(Math.max(Number(q.get('limit') ?? DEFAULT_HISTORY_LIMIT) || DEFAULT_HISTORY_LIMIT, 1), MAX_HISTORY_LIMIT);
    const before = serialParam(q, 'before');
    const after = serialParam(q, 'after');
    const direction = q.get('direction') ?? 'backwards';
    if (direction !== 'backwards' && direction !== 'forwards') {
      throw new HubbubError(ErrorCode.BadFrame, '"direction" is backwards or forwards');
    }
    if (after !== undefined && direction !== 'forwards') throw new HubbubError(ErrorCode.BadFrame, '"after" needs direction=forwards');
    const key = channelKeyOf(who.app, channel);

    let messages: StoredMessage[];
    let more: boolean;
    if (after !== undefined) {
      // Forwards past a cursor: what follows it, within `before` when given.
      // One page of bytes from the engine: a forwards read never loads the channel's whole history.
      const page = await this.ctx.engine.recover(key, after, undefined, this.ctx.maxPageBytes);
      const inRange = page.messages.filter((m) => m.seq !== undefined && m.seq > after && (before === undefined || m.seq < before));
      messages = firstWithin(inRange.slice(0, limit), this.ctx.maxPageBytes);
      const lastRead = page.messages.at(-1)?.seq ?? after;
      more = inRange.length > messages.length || (page.more === true && (before === undefined || lastRead < before - 1));
    } else {
      const page = await this.ctx.engine.history(key, { limit, before, direction, maxBytes: this.ctx.maxPageBytes });
      messages = direction === 'backwards' ? [...page.messages].reverse() : page.messages;
      more = page.more;
    }

    const headers: Record<string, string> = {};
    const last = messages[messages.length - 1]?.seq;
    if (more && last !== undefined) {
      const next = new URLSearchParams({ limit: String(limit) });
      if (direction === 'backwards') next.set('before', String(last));
      else {
        next.set('direction', 'forwards');
        next.set('after', String(last));
        if (before !== undefined) next.set('before', String(before));
      }
      headers.link = `</channels/${encodeURIComponent(channel)}/messages?${next}>; rel="next"`;
    }
    return new HttpReply(messages.flatMap(restMessages), headers);
  }

  /** `GET /channels/{ch}/presence?limit&clientId&connectionId`: the current members, one page. */
  async presence(who: RestIdentity, channel: string, q: URLSearchParams): Promise<RestPresenceMember[] | HttpReply> {
    assertAllowed(who.capability, channel, ['presence', 'subscribe']);
    const tooFast = this.overRate(this.ctx.readLimit, who, 1, 'REST read');
    if (tooFast) return tooFast;
    const clientId = q.get('clientId');
    const connectionId = q.get('connectionId');
    const limit = q.has('limit') ? Number(q.get('limit')) : Infinity;
    if (!(limit >= 1)) throw new HubbubError(ErrorCode.BadFrame, '"limit" must be a number of at least 1');
    const members = (await this.ctx.engine.presenceSnapshot(channelKeyOf(who.app, channel))).filter(
      (m) => (clientId === null || m.clientId === clientId) && (connectionId === null || m.connectionId === connectionId),
    );
    return members.slice(0, limit).map(restMember);
  }

  /**
   * `POST /keys/{keyName}/requestToken` (Basic auth with that key): a token in the SDK's `createJwt`
   * format, signed with the key's secret and naming it in `kid`. `ttl` is in ms, cut down to the
   * longest token lifetime.
   */
  async requestToken(who: RestIdentity, keyName: string, body: unknown): Promise<TokenDetails> {
    const key = who.key;
    if (!who.viaKey || !key) throw new HubbubError(ErrorCode.BadAuth, 'token requests need an API key, not a token');
    if (key.name !== keyName) throw new HubbubError(ErrorCode.Forbidden, `authenticated with key ${key.name}, not ${keyName}`);
    if (key.secret === undefined) {
      throw new HubbubError(ErrorCode.Forbidden, 'this API key was made before secrets were kept and cannot sign tokens: create a new key');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HubbubError(ErrorCode.BadFrame, 'body must be a JSON object');
    const req = body as { clientId?: unknown; ttl?: unknown; capability?: unknown };
    if (!isValidClientId(req.clientId)) throw new HubbubError(ErrorCode.BadFrame, 'body needs a "clientId" of 1-128 of [A-Za-z0-9._:@+-]');
    if (req.ttl !== undefined && (typeof req.ttl !== 'number' || !Number.isFinite(req.ttl) || req.ttl <= 0)) {
      throw new HubbubError(ErrorCode.BadFrame, '"ttl" is a number of milliseconds above 0');
    }
    const ttlMs = Math.min((req.ttl as number | undefined) ?? DEFAULT_TOKEN_TTL_MS, this.ctx.maxTokenTtlMs);
    let capability: Capability | undefined;
    if (req.capability !== undefined) {
      capability = parseCapability(req.capability, { allowUnknownOperations: true });
      if (!isCapabilitySubset(capability, key.capability)) {
        throw new HubbubError(ErrorCode.Capability, 'requested capability is wider than the API key allows');
      }
    }
    const minted = await this.ctx.tokens.mintForKey({ ...key, secret: key.secret }, req.clientId, ttlMs, capability);
    return tokenDetails(key.name, req.clientId, minted);
  }

  /** A 429 reply when `count` more requests (messages, reads) would take the credential past `limit`. */
  private overRate(limit: CredentialRateLimiter, who: RestIdentity, count: number, what = 'REST publish'): HttpReply | undefined {
    const waitMs = limit.take(credentialOf(who), count);
    if (waitMs === 0) return undefined;
    if (waitMs === Infinity) {
      throw new HubbubError(ErrorCode.TooLarge, `an array publish of ${count} messages is over the REST publish burst of ${limit.burst} (--rest-publish-burst): split it`);
    }
    const error = new HubbubError(ErrorCode.RateLimited, `${what} rate over ${limit.ratePerSecond}/s for this credential: retry after ${waitMs} ms`);
    return new HttpReply({ error: error.toJSON() }, { 'retry-after': String(Math.ceil(waitMs / 1000)) }, error.statusCode);
  }

  /**
   * Who a message is attributed to. With a key: the `clientId` in the body, or nobody. With a
   * token: the token's client id; naming another one is refused (403).
   */
  private publisherOf(who: RestIdentity, items: PublishItem[]): string | undefined {
    const named = [...new Set(items.map((i) => i.clientId).filter((c) => c !== undefined))];
    if (named.length > 1) throw new HubbubError(ErrorCode.BadFrame, 'the messages of an array publish share one "clientId"');
    const asked = named[0];
    if (asked !== undefined && !isValidClientId(asked)) throw new HubbubError(ErrorCode.BadFrame, '"clientId" must be 1-128 of [A-Za-z0-9._:@+-]');
    if (who.viaKey) return asked;
    if (asked !== undefined && asked !== who.clientId) {
      throw new HubbubError(ErrorCode.Forbidden, `this token publishes as ${JSON.stringify(who.clientId)}, not ${JSON.stringify(asked)}`);
    }
    return who.clientId;
  }
}

/**
 * Whose publish rate a request spends: an API key's own (by name), or a token's app and client id
 * (every token of one client shares it). Spaces never occur in key names, app ids or client ids.
 */
function credentialOf(who: RestIdentity): string {
  return who.viaKey && who.key ? `key ${who.key.name}` : `token ${who.app} ${who.clientId}`;
}

/**
 * The dedup scope of an API key publishing without a client id: its own, so two keys (two backends)
 * of one app never collapse each other's ids. `/` is outside the client-id alphabet (names.ts), so
 * no client id can spell this scope.
 */
/** `/` cannot appear in a client id, so a key's scope never meets a client's. */
function keyDedupScope(keyName: string, clientId: string | undefined): string {
  return clientId === undefined ? `key/${keyName}` : `key/${keyName}/${clientId}`;
}

/** The first messages that fit in `maxBytes` (at least one). */
function firstWithin(messages: StoredMessage[], maxBytes: number): StoredMessage[] {
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    bytes += JSON.stringify(messages[i].data ?? null).length;
    if (bytes > maxBytes && i > 0) return messages.slice(0, i);
  }
  return messages;
}

function serialParam(q: URLSearchParams, name: string): number | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new HubbubError(ErrorCode.BadFrame, `"${name}" must be a serial (a whole number)`);
  return n;
}
