import { randomInt, randomUUID } from 'node:crypto';
import { HubbubError, allows } from '@hubbub/protocol';
import { processLog, type Log } from '../../core/log.js';
import { channelKeyOf, type Outbound } from '../../core/outbound.js';
import { TokenBucket } from '../../core/rate-limit.js';
import { RequestQueue } from '../../core/request-queue.js';
import type { Peer } from '../../core/router.js';
import type { LiveSession, SessionRegistry } from '../../core/session-registry.js';
import type { SessionContext } from '../../core/session-scope.js';
import type { Wire } from '../../core/wire.js';
import { batchEvents, pusherJson } from './dialect.js';
import { dataFromPusher } from './event-data.js';
import type { PusherPinger } from './pinger.js';
import { PusherChannels, type ChannelOwner, type PusherKey } from './pusher-channels.js';
import { PusherCode, pusherError, pusherEvent, pusherUserId, readInbound, type PusherInbound } from './protocol.js';
import { userSignedText, verifySignature } from './signatures.js';
import {
  PUSHER_CLIENT_EVENT_RATE,
  PUSHER_MAX_EVENT_DATA_BYTES,
  PUSHER_MAX_EVENT_NAME_LENGTH,
  PUSHER_MAX_PRESENCE_MEMBERS,
  PUSHER_MAX_USER_ID_LENGTH,
} from './defaults.js';
import type { JoinGate } from './join-gate.js';

/** What every Pusher connection of a node shares. */
export interface PusherContext {
  session: SessionContext;
  pinger: PusherPinger;
  /** Advertised as `activity_timeout`: the client pings after this long without a message, and so does the server. */
  activityTimeoutMs: number;
  /** Distinct members of one presence channel (default PUSHER_MAX_PRESENCE_MEMBERS). */
  maxPresenceMembers?: number;
  /** The node's presence joins, one at a time per channel. */
  presenceJoins: JoinGate;
}


/**
 * One pusher-js connection (protocol 7) over the same router, engine and registry as Hubbub's own
 * sessions: the key in the URL authenticates it, so it is established at once, and its socket id is
 * its connection id. Its own events never come back to it (echo off), which is also how the HTTP API
 * leaves out a `socket_id`. See docs/compat-pusher.md for why this is not a `Session` with a dialect.
 */
export class PusherSession implements ChannelOwner, Peer, LiveSession {
  readonly echo = false;
  readonly presenceView = 'client' as const;
  readonly dialect = pusherJson;
  connectionId = '';
  private lastReceived = Date.now();
  private pinged?: number;
  private closed = false;
  private user?: string;
  /** Requests in turn; a full backlog stops reading the socket (see `enqueue`). */
  private readonly requests: RequestQueue;
  private bucket?: TokenBucket;
  private readonly channels = new PusherChannels(this);

  constructor(
    private readonly pusher: PusherContext,
    readonly wire: Wire,
    readonly key: PusherKey,
  ) {
    this.requests = new RequestQueue(wire, pusher.session.limits);
  }

  /**
   * When the client last sent anything, and when the server's ping to it went unanswered since (for
   * the pinger). While its socket is not read the client cannot show it is alive, so it counts as active.
   */
  get lastActivity(): number {
    return this.requests.paused ? Date.now() : this.lastReceived;
  }

  get pingSentAt(): number | undefined {
    return this.requests.paused ? undefined : this.pinged;
  }

  get ctx(): SessionContext {
    return this.pusher.session;
  }

  get app(): string {
    return this.key.app;
  }

  /** The signed-in user's id (what `terminate_connections` names), else one of the socket's own. */
  get clientId(): string {
    return this.user ?? `pusher-${this.connectionId}`;
  }

  get userId(): string | undefined {
    return this.user;
  }

  get keyName(): string {
    return this.key.name;
  }

  get maxPresenceMembers(): number {
    return this.pusher.maxPresenceMembers ?? PUSHER_MAX_PRESENCE_MEMBERS;
  }

  get presenceJoins(): JoinGate {
    return this.pusher.presenceJoins;
  }

  get expiresAt(): undefined {
    return undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private get log(): Log {
    return this.ctx.log ?? processLog;
  }

  /** Take a place and say `connection_established`; false when the server is full (the transport closes it). */
  open(): boolean {
    this.wire.speak?.(pusherJson);
    if (this.wire.authenticated?.(this.app) === false) {
      this.closed = true;
      return false;
    }
    this.connectionId = socketId(this.ctx.sessions);
    this.ctx.sessions.add(this);
    this.pusher.pinger.add(this);
    this.ctx.notify?.(this.app, 'client.connected', { clientId: this.clientId, connectionId: this.connectionId });
    const activityTimeout = Math.max(1, Math.round(this.pusher.activityTimeoutMs / 1000));
    this.sendText(pusherEvent('pusher:connection_established', undefined, { socket_id: this.connectionId, activity_timeout: activityTimeout }));
    return true;
  }

  receive(data: string | Buffer): void {
    if (this.closed) return;
    this.lastReceived = Date.now();
    this.pinged = undefined;
    const msg = typeof data === 'string' ? readInbound(data) : undefined;
    if (!msg) return this.sendText(pusherError(null, 'send one JSON event per text message: {"event", "channel"?, "data"}'));
    switch (msg.event) {
      case 'pusher:ping':
        return this.sendText(pusherEvent('pusher:pong', undefined, {}));
      case 'pusher:pong':
        return;
      case 'pusher:subscribe':
        return this.enqueue(() => this.channels.subscribe(msg.data), data.length);
      case 'pusher:unsubscribe':
        return this.enqueue(() => this.channels.unsubscribe(channelOf(msg.data)), data.length);
      case 'pusher:signin':
        return this.enqueue(() => this.signin(msg.data), data.length);
    }
    if (!msg.event.startsWith('client-')) return this.sendText(pusherError(null, `unknown event ${JSON.stringify(msg.event.slice(0, 64))}`));
    const refused = clientEventProblem(msg);
    if (refused) return this.sendText(pusherError(null, `client event rejected: ${refused}`));
    // Counted as they arrive, so a flood is refused before it queues.
    if (!(this.bucket ??= new TokenBucket(PUSHER_CLIENT_EVENT_RATE, PUSHER_CLIENT_EVENT_RATE)).take()) {
      return this.sendText(pusherError(PusherCode.ClientEventRateLimit, `client event rejected: over ${PUSHER_CLIENT_EVENT_RATE} per second`));
    }
    this.enqueue(() => this.clientEvent(msg), data.length);
  }

  deliver(out: Outbound): void {
    if (this.closed) return;
    if (out.frame.t === 'presEvt') {
      // Pusher tells a member's own connection nothing of its arrival; the member list told it.
      if (out.frame.connectionId === this.connectionId || !this.channels.admitPresence(out)) return;
    }
    this.deliverNow(out);
  }

  deliverNow(out: Outbound): void {
    if (this.closed) return;
    const batch = batchEvents(out);
    if (batch) {
      for (const text of batch) this.wire.sendText(text);
      return;
    }
    if (this.wire.sendShared) return this.wire.sendShared(out, pusherJson);
    const text = out.encodedFor(pusherJson);
    if (typeof text === 'string') this.wire.sendText(text);
  }

  sendText(text: string): void {
    if (!this.closed) this.wire.sendText(text);
  }

  /** The server's `pusher:ping` to an idle client; no answer in time closes it (see PusherPinger). */
  ping(): void {
    this.pinged = Date.now();
    this.sendText(pusherEvent('pusher:ping', undefined, {}));
  }

  closeSlow(why: string): void {
    this.close(PusherCode.OverCapacity, `slow consumer: ${why}`);
  }

  /** Close from the server side; Hubbub's close codes are read in Pusher's classes by the transport. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.wire.close(code, reason);
    this.dispose();
  }

  supersede(): void {
    this.close(PusherCode.Unauthorized, 'superseded');
  }

  armExpiryTimer(): void {
    // A key never expires; revoking it closes the connection through the registry.
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.pusher.pinger.remove(this);
    this.ctx.sessions.remove(this);
    if (!this.connectionId) return;
    this.channels.release();
    this.ctx.notify?.(this.app, 'client.disconnected', { clientId: this.clientId, connectionId: this.connectionId });
  }

  /**
   * Requests are answered in turn (a client event after its subscribe). Past the session limits'
   * backlog the socket is no longer read until it drains, as for Hubbub's own sessions: pusher-js
   * resubscribes every channel at once when it reconnects, so closing a connection for a long queue
   * would close an honest client with many channels, and it would only reconnect and do it again.
   * Pings are answered as they are read and client events are rate-limited as they are read; neither waits here.
   */
  private enqueue(task: () => Promise<void> | void, bytes: number): void {
    this.requests.push(() => (this.closed ? undefined : task()), bytes, (err) => this.fail(err));
  }

  /** `client-` events: on private and presence channels, once subscribed, as the key's capability allows. */
  private async clientEvent(msg: PusherInbound): Promise<void> {
    const channel = msg.channel;
    const held = channel === undefined ? undefined : this.channels.get(channel);
    if (!held || held.early) return this.sendText(pusherError(null, 'subscribe to the channel before sending client events on it'));
    if (held.kind !== 'private' && held.kind !== 'presence') {
      return this.sendText(pusherError(null, 'client events are allowed on private- and presence- channels only (not on private-encrypted-)'));
    }
    if (!allows(this.key.capability, channel!, 'publish')) return this.sendText(pusherError(null, `this key's capability does not allow publish on ${JSON.stringify(channel)}`));
    const key = channelKeyOf(this.app, channel!);
    const clientId = held.userId ?? this.user;
    const data = dataFromPusher(msg.data);
    // Client events are not kept (Pusher never stores them), but reach every protocol's subscribers.
    await this.ctx.engine.publish(key, { name: msg.event, data, messageId: randomUUID(), clientId, connectionId: this.connectionId, ephemeral: true });
    this.ctx.stats?.published(key, this.app);
    // The socket id is what a Pusher-format webhook's `client_event` names the sender by.
    this.ctx.notify?.(this.app, 'message.published', { channel, name: msg.event, data, clientId, socketId: this.connectionId });
  }

  /** `pusher:signin`: the app's backend signed `user_data` for this socket; the user may then take its `#server-to-user-` channel. */
  private signin(data: unknown): void {
    const { auth, user_data: userData } = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
    const refuse = (why: string) => this.sendText(pusherError(PusherCode.Unauthorized, `signin refused: ${why}`));
    if (typeof userData !== 'string' || Buffer.byteLength(userData) > this.ctx.limits.maxPresenceBytes) return refuse(`user_data must be JSON text of at most ${this.ctx.limits.maxPresenceBytes} bytes`);
    if (!verifySignature(auth, this.key.keyId, this.key.secret, userSignedText(this.connectionId, userData))) return refuse('invalid signature for this socket and user_data');
    const id = userIdOf(userData);
    if (id === undefined) return refuse(`user_data must be a JSON object with an "id": 1-${PUSHER_MAX_USER_ID_LENGTH} characters, or an integer`);
    // pusher-js signs a socket in once; a second sign-in would leave the first user's channel and its terminate_connections behind.
    if (this.user !== undefined) return this.sendText(pusherError(null, `signin refused: this connection is already signed in as ${JSON.stringify(this.user)}; connect again to sign in as another user`));
    this.user = id;
    this.sendText(pusherEvent('pusher:signin_success', undefined, { user_data: userData }));
  }

  private fail(err: unknown): void {
    const known = err instanceof HubbubError;
    if (!known) this.log.error({ err }, 'a Pusher request failed');
    this.sendText(pusherError(null, known ? err.message : 'internal server error'));
  }
}

function channelOf(data: unknown): string {
  const channel = typeof data === 'object' && data !== null ? (data as { channel?: unknown }).channel : undefined;
  return typeof channel === 'string' ? channel : '';
}

function userIdOf(userData: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(userData);
  } catch {
    // Signed but not JSON: refused like a user without an id.
    return undefined;
  }
  return pusherUserId(typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined);
}

/** Why a client event is refused before it is queued: Pusher's bounds on its name and data. */
function clientEventProblem(msg: PusherInbound): string | undefined {
  if (msg.event.length > PUSHER_MAX_EVENT_NAME_LENGTH) return `the event name is over ${PUSHER_MAX_EVENT_NAME_LENGTH} characters`;
  const text = typeof msg.data === 'string' ? msg.data : JSON.stringify(msg.data ?? null);
  if (Buffer.byteLength(text) > PUSHER_MAX_EVENT_DATA_BYTES) return `data is over ${PUSHER_MAX_EVENT_DATA_BYTES} bytes`;
  return undefined;
}

/** Pusher's socket id form, `\d+.\d+`; random, so ids from different nodes do not meet. */
function socketId(sessions: SessionRegistry): string {
  for (;;) {
    const id = `${randomInt(1, 2 ** 47)}.${randomInt(1, 2 ** 47)}`;
    if (!sessions.has(id)) return id;
  }
}
