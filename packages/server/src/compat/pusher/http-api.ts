import type { IncomingMessage } from 'node:http';
import { ErrorCode, HubbubError, allows, assertAllowed, type Capability, type PresenceMember } from '@hubbub/protocol';
import { appOf, channelKeyOf, channelOf } from '../../core/outbound.js';
import { readRequestBody } from '../../transport/request-body.js';
import { assertPusherChannel, channelKind, isValidPusherChannel } from './channel-names.js';
import { dataFromPusher } from './event-data.js';
import { PUSHER_MAX_BODY_BYTES, PUSHER_TIMESTAMP_WINDOW_S } from './defaults.js';
import { batchOf, eventOf, infoOf, jsonBody, type EventInfo, type PusherEvent } from './http-events.js';
import { assertBodyMd5Given, verifyBody, verifySignedQuery } from './request-signing.js';

/** An API key as the Pusher HTTP API uses it: Pusher's key is the `KEYID` of `APP.KEYID`, its secret the key's. */
export interface PusherKey {
  app: string;
  /** `APP.KEYID`. */
  name: string;
  secret: string;
  capability?: Capability;
}

/** An answer other than a 200 with a JSON body (a 429 from the publish path, say). */
export class PusherReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

/** What the node lends the Pusher HTTP API: its keys, its publish path, and what it knows of channels. */
export interface PusherHttpBackend {
  /** The active key `APP.KEYID` with its secret; throws 40101 when unknown, revoked or kept only as a hash. */
  key(name: string): PusherKey;
  /**
   * One event on one channel through the node's own publish path (serials, history, dedup, webhooks,
   * rate limits). `publisherConnectionId` is the connection left out of the fan-out. A reply to send
   * instead of going on (a 429) comes back; undefined when it was published.
   */
  publish(key: PusherKey, channel: string, message: { name: string; data: unknown }, publisherConnectionId?: string): Promise<PusherReply | undefined>;
  /** The channel's presence members by client id (user id), across nodes. */
  presenceMembers(channelKey: string): Promise<PresenceMember[]>;
  /** Subscribers of the channel on this node. */
  localSubscribers(channelKey: string): number;
  /** Channel keys (`app/channel`) with subscribers on this node. */
  localChannelKeys(): Iterable<string>;
  /** Close every connection of the user in the app, on every node. */
  terminate(app: string, userId: string): Promise<unknown>;
}

interface Authenticated {
  key: PusherKey;
  params: Map<string, string>;
  body: Buffer;
}

type ChannelInfo = { occupied?: boolean; subscription_count?: number; user_count?: number };

/**
 * Pusher's HTTP API (`/apps/{app_id}/…`) over the node's own channel space: a trigger is an ordinary
 * publish in the app, with the event name as the message name; channel reads answer from the router
 * (this node's subscribers) and the engine (presence, every node).
 */
export class PusherHttpApi {
  constructor(
    private readonly backend: PusherHttpBackend,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** `POST /apps/{app}/events`. */
  async events(req: IncomingMessage, app: string): Promise<unknown> {
    const { key, body } = await this.authenticate(req, app);
    const event = eventOf(jsonBody(body));
    for (const channel of event.channels) assertAllowed(key.capability, channel, 'publish');
    const refused = await this.publish(key, event);
    if (refused) return refused;
    if (event.info.length === 0) return {};
    const channels: Record<string, ChannelInfo> = {};
    for (const channel of event.channels) channels[channel] = await this.infoFor(key.app, channel, event.info);
    return { channels };
  }

  /** `POST /apps/{app}/batch_events`: each event published in order; `info` answered per event. */
  async batchEvents(req: IncomingMessage, app: string): Promise<unknown> {
    const { key, body } = await this.authenticate(req, app);
    const batch = batchOf(jsonBody(body));
    // Every event is checked before the first is published: a refusal publishes none of them.
    for (const event of batch) assertAllowed(key.capability, event.channels[0], 'publish');
    for (const event of batch) {
      const refused = await this.publish(key, event);
      if (refused) return refused;
    }
    if (batch.every((e) => e.info.length === 0)) return {};
    const answers: ChannelInfo[] = [];
    for (const event of batch) answers.push(await this.infoFor(key.app, event.channels[0], event.info));
    return { batch: answers };
  }

  /** `GET /apps/{app}/channels?filter_by_prefix&info`: channels with subscribers on this node. */
  async channels(req: IncomingMessage, app: string): Promise<unknown> {
    const { key, params } = await this.authenticate(req, app);
    const prefix = params.get('filter_by_prefix') ?? '';
    const info = infoOf(params.get('info'), ['user_count', 'subscription_count'], 'the query') as EventInfo[];
    if (info.includes('user_count') && !prefix.startsWith('presence-')) {
      throw new HubbubError(ErrorCode.BadFrame, 'info=user_count needs filter_by_prefix=presence-');
    }
    const names = new Set<string>();
    for (const channelKey of this.backend.localChannelKeys()) {
      if (appOf(channelKey) !== key.app) continue;
      const name = channelOf(channelKey);
      // Hubbub-only names (`chat:room`) are not Pusher channels: a Pusher backend could not name them back.
      if (!isValidPusherChannel(name) || !name.startsWith(prefix) || !allows(key.capability, name, ['subscribe', 'presence'])) continue;
      names.add(name);
    }
    const channels: Record<string, ChannelInfo> = {};
    for (const name of [...names].sort()) channels[name] = await this.infoFor(key.app, name, info);
    return { channels };
  }

  /** `GET /apps/{app}/channels/{channel}?info`. */
  async channel(req: IncomingMessage, app: string, channel: string): Promise<unknown> {
    const { key, params } = await this.authenticate(req, app);
    assertPusherChannel(channel);
    assertAllowed(key.capability, channel, ['subscribe', 'presence']);
    const info = infoOf(params.get('info'), ['user_count', 'subscription_count'], 'the query') as EventInfo[];
    const presence = channelKind(channel) === 'presence';
    if (info.includes('user_count') && !presence) throw new HubbubError(ErrorCode.BadFrame, 'info=user_count is for presence- channels only');
    const channelKey = channelKeyOf(key.app, channel);
    const subscribers = this.backend.localSubscribers(channelKey);
    const users = presence ? (await this.backend.presenceMembers(channelKey)).length : 0;
    const answer: ChannelInfo = { occupied: subscribers > 0 || users > 0 };
    if (info.includes('user_count')) answer.user_count = users;
    if (info.includes('subscription_count')) answer.subscription_count = subscribers;
    return answer;
  }

  /** `GET /apps/{app}/channels/{presence-channel}/users`: `{users: [{id}]}`, one per user id. */
  async users(req: IncomingMessage, app: string, channel: string): Promise<unknown> {
    const { key } = await this.authenticate(req, app);
    assertPusherChannel(channel);
    if (channelKind(channel) !== 'presence') throw new HubbubError(ErrorCode.BadFrame, 'users are listed for presence- channels only');
    assertAllowed(key.capability, channel, ['presence', 'subscribe']);
    const members = await this.backend.presenceMembers(channelKeyOf(key.app, channel));
    return { users: members.map((m) => ({ id: m.clientId })) };
  }

  /** `POST /apps/{app}/users/{user}/terminate_connections`: a key limited by a capability may not. */
  async terminate(req: IncomingMessage, app: string, userId: string): Promise<unknown> {
    const { key } = await this.authenticate(req, app);
    if (key.capability !== undefined) {
      throw new HubbubError(ErrorCode.Capability, 'terminating connections needs a key without a capability: this key is limited to some channels');
    }
    if (userId.length === 0) throw new HubbubError(ErrorCode.BadFrame, 'the path needs a user id');
    await this.backend.terminate(key.app, userId);
    return {};
  }

  /**
   * Check everything the request line decides before reading a byte of the body: the key `APP.KEYID`
   * that the path's app and `auth_key` name together (a key of another app is an unknown key here),
   * the signature, which covers `body_md5`, and the timestamp. An unauthenticated request is answered
   * from its headers; only a signed one has its body read (bounded), and checked against `body_md5`.
   */
  private async authenticate(req: IncomingMessage, app: string): Promise<Authenticated> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let key: PusherKey | undefined;
    const verified = verifySignedQuery(
      { method: req.method ?? 'GET', rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1) },
      {
        secretOf: (keyId) => (key = this.backend.key(`${app}.${keyId}`)).secret,
        nowS: Math.floor(this.nowMs() / 1000),
        windowS: PUSHER_TIMESTAMP_WINDOW_S,
      },
    );
    assertBodyMd5Given(verified, declaresBody(req));
    const body = await readRequestBody(req, PUSHER_MAX_BODY_BYTES);
    if (body === 'too-large') throw new HubbubError(ErrorCode.TooLarge, `request body over ${PUSHER_MAX_BODY_BYTES} bytes`);
    if (body === 'aborted') throw new HubbubError(ErrorCode.BadFrame, 'the request body did not arrive whole');
    verifyBody(verified, body);
    return { key: key!, params: verified.params, body };
  }

  private async publish(key: PusherKey, event: PusherEvent): Promise<PusherReply | undefined> {
    const message = { name: event.name, data: dataFromPusher(event.data) };
    for (const channel of event.channels) {
      const refused = await this.backend.publish(key, channel, message, event.socketId);
      if (refused) return refused;
    }
    return undefined;
  }

  private async infoFor(app: string, channel: string, info: readonly EventInfo[]): Promise<ChannelInfo> {
    const channelKey = channelKeyOf(app, channel);
    const answer: ChannelInfo = {};
    if (info.includes('subscription_count')) answer.subscription_count = this.backend.localSubscribers(channelKey);
    if (info.includes('user_count') && channelKind(channel) === 'presence') answer.user_count = (await this.backend.presenceMembers(channelKeyOf(app, channel))).length;
    return answer;
  }
}

/** Does the request announce a body (a length over 0, or chunks)? Known from its headers alone. */
function declaresBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
