import { allows, type Capability, type PresenceEventFrame } from '@hubbub/protocol';
import { processLog } from '../../core/log.js';
import { channelKeyOf, messageFrame, Outbound } from '../../core/outbound.js';
import { clientOutcome } from '../../core/presence-views.js';
import { goLive, type Peer, type Subscription } from '../../core/router.js';
import type { SessionContext } from '../../core/session-scope.js';
import { SERVER_TO_USER_PREFIX, channelKind, isCacheChannel, isValidPusherChannel, type PusherChannelKind } from './channel-names.js';
import { pusherError, pusherEvent, pusherUserId, subscriptionError } from './protocol.js';
import { channelSignedText, verifySignature } from './signatures.js';
import { PUSHER_MAX_EARLY_PRESENCE, PUSHER_MAX_USER_ID_LENGTH } from './defaults.js';
import type { JoinGate } from './join-gate.js';

/** An app key as a Pusher client names it (`/app/{keyId}`), with what it signs with and may do. */
export interface PusherKey {
  app: string;
  keyId: string;
  /** `app.keyId`: revoking it ends the connections it opened. */
  name: string;
  secret: string;
  capability?: Capability;
}

/** What a connection's channels need of it. */
export interface ChannelOwner extends Peer {
  readonly ctx: SessionContext;
  readonly key: PusherKey;
  readonly isClosed: boolean;
  /** The signed-in user (`pusher:signin`), if any. */
  readonly userId: string | undefined;
  sendText(text: string): void;
  /** Distinct members a presence channel may have before a new user is refused. */
  readonly maxPresenceMembers: number;
  /** This node's presence joins, one at a time per channel. */
  readonly presenceJoins: JoinGate;
  /** Send a shared frame now (past the early-presence hold). */
  deliverNow(out: Outbound): void;
  /** Cut a connection that does not keep up. */
  closeSlow(why: string): void;
}

/** One channel a connection holds. */
export interface HeldChannel {
  readonly kind: PusherChannelKind;
  readonly sub: Subscription;
  /** Presence: the user this connection is as a member (from its signed `channel_data`). */
  readonly userId?: string;
  /** Presence changes that arrived before the member list went out; sent after it unless it covers them. */
  early?: Outbound[];
}


interface Refusal {
  status: number;
  error: string;
}

/**
 * One Pusher connection's channels: `pusher:subscribe` checked (name, the key's capability, the app's
 * signature for private, encrypted and presence channels, the signed-in user for `#server-to-user-`),
 * then a subscription on the router like any other protocol's, presence entered by user id, and the
 * last event of a cache channel.
 */
export class PusherChannels {
  private readonly held = new Map<string, HeldChannel>();

  constructor(private readonly s: ChannelOwner) {}

  get(channel: string): HeldChannel | undefined {
    return this.held.get(channel);
  }

  async subscribe(data: unknown): Promise<void> {
    const { s } = this;
    const { channel, auth, channel_data: channelData } = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    if (!isValidPusherChannel(channel)) return s.sendText(pusherError(null, 'pusher:subscribe needs a channel: 1-200 of [A-Za-z0-9_-=@,.;]'));
    const existing = this.held.get(channel);
    if (existing) return this.succeeded(channel, existing);
    const checked = this.check(channel, auth, channelData);
    if ('status' in checked) return s.sendText(subscriptionError(channel, checked.status, checked.error));
    const key = channelKeyOf(s.key.app, channel);
    if (checked.userId === undefined) return this.open(channel, key, checked);
    const userId = checked.userId;
    await s.presenceJoins.run(key, async () => {
      if (s.isClosed) return;
      if (await this.isFull(channel, userId)) {
        if (s.isClosed) return;
        return s.sendText(subscriptionError(channel, 403, `presence channel is full: at most ${s.maxPresenceMembers} members; a user already present may still join`));
      }
      await this.open(channel, key, checked);
    });
  }

  /** Hold the channel: a router subscription, presence entered for a member, the answer, a cache's last event. */
  private async open(channel: string, key: string, checked: { userId?: string; userInfo?: unknown }): Promise<void> {
    const { s } = this;
    const kind = channelKind(channel);
    const held: HeldChannel = { kind, sub: { peer: s }, ...(checked.userId !== undefined ? { userId: checked.userId, early: [] } : {}) };
    const cache = isCacheChannel(channel);
    // A cache channel's live events wait while its last event is read, so none comes before it.
    if (cache) held.sub.pending = [];
    this.held.set(channel, held);
    try {
      await s.ctx.router.subscribe(key, held.sub);
      if (held.userId !== undefined) await this.enter(channel, key, held, checked.userInfo);
      if (s.isClosed || this.held.get(channel) !== held) return;
      await this.succeeded(channel, held);
      if (cache) await this.sendCached(channel, key, held.sub);
    } catch (err) {
      this.unsubscribe(channel);
      throw err;
    }
  }

  unsubscribe(channel: string): void {
    const held = this.held.get(channel);
    if (!held) return;
    this.held.delete(channel);
    this.releaseOne(channel, held);
  }

  /** The connection went: everything it held goes. */
  release(): void {
    for (const [channel, held] of this.held) this.releaseOne(channel, held, true);
    this.held.clear();
  }

  /** Whether a presence change goes out now; one that came early waits for the member list. */
  admitPresence(out: Outbound): boolean {
    const held = this.held.get((out.frame as PresenceEventFrame).channel);
    if (!held) return false;
    if (!held.early) return true;
    if (held.early.length < PUSHER_MAX_EARLY_PRESENCE) held.early.push(out);
    else this.s.closeSlow('too many presence changes while the member list was read');
    return false;
  }

  private check(channel: string, auth: unknown, channelData: unknown): Refusal | { userId?: string; userInfo?: unknown } {
    const { key, ctx } = this.s;
    const socketId = this.s.connectionId;
    const kind = channelKind(channel);
    if (!allows(key.capability, channel, 'subscribe')) return { status: 403, error: `this key's capability does not allow subscribe on ${JSON.stringify(channel)}` };
    if (this.held.size >= ctx.limits.maxSubscriptions) return { status: 429, error: `at most ${ctx.limits.maxSubscriptions} channels per connection` };
    if (kind === 'public') return {};
    if (kind === 'server-to-user') {
      const mine = this.s.userId !== undefined && channel === `${SERVER_TO_USER_PREFIX}${this.s.userId}`;
      return mine ? {} : { status: 403, error: 'only the signed-in user may subscribe to its #server-to-user- channel: pusher:signin first' };
    }
    if (kind !== 'presence') {
      return verifySignature(auth, key.keyId, key.secret, channelSignedText(socketId, channel)) ? {} : { status: 401, error: 'invalid signature for this socket and channel' };
    }
    if (!allows(key.capability, channel, 'presence')) return { status: 403, error: `this key's capability does not allow presence on ${JSON.stringify(channel)}` };
    if (typeof channelData !== 'string') return { status: 401, error: 'a presence channel needs channel_data, signed with the auth' };
    if (Buffer.byteLength(channelData) > ctx.limits.maxPresenceBytes) return { status: 413, error: `channel_data is over ${ctx.limits.maxPresenceBytes} bytes` };
    if (!verifySignature(auth, key.keyId, key.secret, channelSignedText(socketId, channel, channelData))) {
      return { status: 401, error: 'invalid signature for this socket, channel and channel_data' };
    }
    const member = parseMember(channelData);
    if (!member) return { status: 400, error: `channel_data must be JSON {user_id, user_info}, user_id 1-${PUSHER_MAX_USER_ID_LENGTH} characters` };
    const present = [...this.held.values()].filter((h) => h.userId !== undefined).length;
    if (present >= ctx.limits.maxPresenceChannels) return { status: 429, error: `present on at most ${ctx.limits.maxPresenceChannels} channels per connection` };
    return member;
  }

  /**
   * Whether a new user would take the channel past its cap. The count is the engine's, so every node
   * and protocol is in it; joins go one at a time per node (JoinGate), so nodes racing each other may
   * pass it by at most one join each.
   */
  private async isFull(channel: string, userId: string): Promise<boolean> {
    const { members } = await this.s.ctx.engine.presenceSync(channelKeyOf(this.s.key.app, channel));
    const ids = new Set(members.map((m) => m.clientId));
    return !ids.has(userId) && ids.size >= this.s.maxPresenceMembers;
  }

  /** Watch the channel's presence, then enter it: what happens meanwhile is kept until the member list is sent. */
  private async enter(channel: string, key: string, held: HeldChannel, userInfo: unknown): Promise<void> {
    const { s } = this;
    await s.ctx.router.subscribePresence(key, s);
    const member = { clientId: held.userId!, connectionId: s.connectionId, ...(userInfo !== undefined ? { data: userInfo } : {}) };
    const outcome = clientOutcome(await s.ctx.engine.presenceEnter(key, member));
    if (outcome.action === 'enter') s.ctx.notify?.(s.key.app, 'presence.enter', { channel, clientId: held.userId, data: userInfo });
  }

  private async succeeded(channel: string, held: HeldChannel): Promise<void> {
    const { s } = this;
    if (held.userId === undefined) return s.sendText(pusherEvent('pusher_internal:subscription_succeeded', channel, {}));
    const { members, pseq } = await s.ctx.engine.presenceSync(channelKeyOf(s.key.app, channel));
    if (s.isClosed || this.held.get(channel) !== held) return;
    const hash = memberHash(members, held.userId, s.maxPresenceMembers);
    const ids = Object.keys(hash);
    s.sendText(pusherEvent('pusher_internal:subscription_succeeded', channel, { presence: { ids, hash, count: ids.length } }));
    const early = held.early ?? [];
    held.early = undefined;
    for (const out of early) if (((out.frame as PresenceEventFrame).pseq ?? Infinity) > pseq) s.deliverNow(out);
  }

  /** The last event kept for the channel, or `pusher:cache_miss`; then what arrived meanwhile. */
  private async sendCached(channel: string, key: string, sub: Subscription): Promise<void> {
    const { s } = this;
    const page = await s.ctx.engine.history(key, { limit: 1, direction: 'backwards' });
    const last = page.messages.at(-1);
    if (s.isClosed || this.held.get(channel)?.sub !== sub) return;
    if (last) s.deliverNow(new Outbound(messageFrame(channel, last)));
    else s.sendText(pusherEvent('pusher:cache_miss', channel, undefined));
    const live = goLive(sub, last?.seq ?? 0, (m) => {
      if (m.connectionId !== s.connectionId) s.deliverNow(new Outbound(messageFrame(channel, m)));
    });
    if (!live) s.closeSlow('too many events arrived while the cache was read');
  }

  /**
   * Let go of one channel. When the connection is gone, a presence channel's subscription is let go
   * of after its leave, so the last member's `member_removed` comes before `channel_vacated` (the
   * order Pusher's webhooks have); a live connection lets go at once, or events would reach it after
   * its unsubscribe, twice if it subscribed again meanwhile.
   */
  private releaseOne(channel: string, held: HeldChannel, closing = false): void {
    const { s } = this;
    const key = channelKeyOf(s.key.app, channel);
    const unsubscribe = () => s.ctx.router.unsubscribe(key, held.sub);
    if (held.userId === undefined || !closing) unsubscribe();
    if (held.userId === undefined) return;
    s.ctx.router.unsubscribePresence(key, s);
    const userId = held.userId;
    s.ctx.engine
      .presenceLeave(key, userId, s.connectionId)
      .then(
        (outcome) => {
          if (clientOutcome(outcome).action === 'leave') s.ctx.notify?.(s.key.app, 'presence.leave', { channel, clientId: userId });
        },
        (err) => (s.ctx.log ?? processLog).error({ err, channel }, 'a Pusher presence leave failed'),
      )
      .finally(() => {
        if (closing) unsubscribe();
      });
  }
}

/**
 * The member list a joiner is sent: at most `max` members, its own user first, so the list stays
 * within the cap's bytes even when more are present (Hubbub SDK members are not held to the cap, and
 * racing joins may pass it).
 */
function memberHash(members: ReadonlyArray<{ clientId: string; data?: unknown }>, own: string, max: number): Record<string, unknown> {
  const hash = new Map<string, unknown>();
  const mine = members.find((m) => m.clientId === own);
  if (mine) hash.set(own, mine.data ?? null);
  for (const m of members) {
    if (hash.size >= max) break;
    if (!hash.has(m.clientId)) hash.set(m.clientId, m.data ?? null);
  }
  return Object.fromEntries(hash);
}

/** `{user_id, user_info}` from signed channel data; a numeric user id is read as its decimal text, as Pusher does. */
function parseMember(channelData: string): { userId: string; userInfo?: unknown } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(channelData);
  } catch {
    // Signed but not JSON: refused like any malformed member.
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { user_id: raw, user_info: userInfo } = value as { user_id?: unknown; user_info?: unknown };
  const userId = pusherUserId(raw);
  if (userId === undefined) return undefined;
  return userInfo === undefined ? { userId } : { userId, userInfo };
}
