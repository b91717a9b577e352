import {
  ErrorCode,
  FrameError,
  HubbubError,
  allows,
  assertAllowed,
  decodeClientFrame,
  startsWithAuthRecord,
  decodeClientRecords,
  encodeServerFrame,
  type AuthFrame,
  type ClientFrame,
  type FetchFrame,
  type HistoryFrame,
  type MessageFrame,
  type PresenceFrame,
  type PublishFrame,
  type ServerFrame,
  type SubscribeFrame,
  type TopicSubscribeFrame,
  type DirectMessageFrame,
  type TopicFilter,
  type RealtimeEvent,
  matchesFilter,
} from '@hubbub/protocol';
import { directKey, newEventId, topicKey } from './events.js';
import type { Engine, PresenceOutcome, StoredMessage } from '../engine/engine.js';
import type { Authenticate, Identity } from './identity.js';
import { channelKeyOf, eventFrame, messageFrame, presenceFrame, type Outbound } from './outbound.js';
import { TokenBucket } from './rate-limit.js';
import type { Peer, Router, Subscription } from './router.js';
import { CloseCode } from './close-codes.js';
import { ConnectionIds, processConnectionIds } from './connection-ids.js';
import { pause } from './cooperative.js';
import type { Stats } from './stats.js';

/**
 * The byte-level side of a connection, provided by a transport. A session speaks one codec for its
 * whole life, picked by its first frame: JSON text frames, or Foony's binary records.
 */
export interface Wire {
  /** One JSON frame. */
  send(text: string): void;
  /** One or more binary records, each with its length prefix (`@hubbub/protocol` binary codec). */
  sendRecords(records: Uint8Array): void;
  /** A frame shared by many connections; transports that can reuse its encoded bytes do. */
  sendShared?(frame: Outbound, binary: boolean): void;
  close(code: number, reason: string): void;
  /**
   * The connection authenticated: transports keep a smaller budget for connections that have not.
   * False: no place is left for authenticated connections, and the transport is closing this one.
   */
  authenticated?(app: string): boolean;
  /**
   * Resolves true once what is queued for the peer has (mostly) been written out, false when that
   * takes longer than `timeoutMs`: a replay waits on it between pieces, so a big catch-up never sits
   * in memory whole.
   */
  drain?(timeoutMs: number): Promise<boolean>;
}

export interface SessionLimits {
  /** The client should send something at least this often; advertised in `connected`. */
  keepAliveMs: number;
  /** Close connections that have not authenticated by then. */
  authTimeoutMs: number;
  /** After the token expires, how long the client has to send a fresh one. */
  authGraceMs: number;
  /** Publishes per second per connection (sustained), and the burst allowed. */
  publishRate: number;
  publishBurst: number;
  /** Subscriptions one connection may hold: channels, presence watches and topics together. */
  maxSubscriptions: number;
  /** Presence data, serialized, plus its `encoding` label, in bytes. */
  maxPresenceBytes: number;
  /** Channels one connection may be present on at once. */
  maxPresenceChannels: number;
  /** Presence enters and updates per second per connection (sustained), and the burst allowed. */
  presenceRate: number;
  presenceBurst: number;
  /** Most messages one history page returns. */
  maxHistoryPage: number;
  /** Most bytes of messages one history page or replay burst puts in the socket before waiting for it to drain. */
  maxReplayChunkBytes: number;
  /** A binary message over this many bytes is refused (41300) record by record; the connection stays. */
  maxFrameBytes: number;
  /** The first frame (the auth frame) may be at most this big; a bigger one closes the connection. */
  maxAuthFrameBytes: number;
  /**
   * How long the presence of a connection that dropped (not closed cleanly) is kept for it to
   * resume with `resumeConnectionId`; a quick reconnect then causes no leave/enter churn.
   */
  presenceResumeMs: number;
}

export const DEFAULT_LIMITS: SessionLimits = {
  keepAliveMs: 15_000,
  authTimeoutMs: 10_000,
  authGraceMs: 15_000,
  publishRate: 50,
  publishBurst: 100,
  maxSubscriptions: 500,
  maxPresenceBytes: 4096,
  maxPresenceChannels: 100,
  presenceRate: 10,
  presenceBurst: 20,
  maxHistoryPage: 1000,
  maxReplayChunkBytes: 256 * 1024,
  maxFrameBytes: 64 * 1024,
  maxAuthFrameBytes: 32 * 1024,
  presenceResumeMs: 5_000,
};

/** Everything a session needs from the node it lives on. */
export interface SessionContext {
  engine: Engine;
  router: Router;
  authenticate: Authenticate;
  limits: SessionLimits;
  sessions: SessionRegistry;
  /** Issues and checks resumable connection ids; without it ids resume within this process only. */
  connectionIds?: ConnectionIds;
  stats?: Stats;
  /** What happened on a connection, for webhooks and metrics. */
  notify?(app: string, event: SessionEvent, data: Record<string, unknown>): void;
}

export type SessionEvent = 'client.connected' | 'client.disconnected' | 'presence.enter' | 'presence.leave' | 'message.published';

/** Presence a dropped connection left behind, waiting for it to resume. */
interface ParkedPresence {
  app: string;
  clientId: string;
  channels: string[];
  timer: NodeJS.Timeout;
}

/**
 * Live sessions by connection id, so a resumed connection id is never shared by two; and the
 * presence of dropped connections, kept a while for them to resume.
 */
export class SessionRegistry {
  private readonly byId = new Map<string, Session>();
  private readonly parked = new Map<string, ParkedPresence>();
  private readonly expiring = new Set<Session>();
  private expirySweep?: NodeJS.Timeout;
  add(session: Session): void {
    this.byId.set(session.connectionId, session);
  }
  remove(session: Session): void {
    if (this.byId.get(session.connectionId) === session) this.byId.delete(session.connectionId);
  }
  has(connectionId: string): boolean {
    return this.byId.has(connectionId);
  }
  get(connectionId: string): Session | undefined {
    return this.byId.get(connectionId);
  }
  /** Keep `channels` entered for `ms`, then call `leave`, unless the connection resumes first. */
  park(connectionId: string, app: string, clientId: string, channels: string[], ms: number, leave: () => void): void {
    const timer = setTimeout(() => {
      this.parked.delete(connectionId);
      leave();
    }, ms);
    timer.unref();
    this.parked.set(connectionId, { app, clientId, channels, timer });
  }
  /** May this client of this app take the connection id? */
  resumable(connectionId: string, app: string, clientId: string): boolean {
    if (this.byId.has(connectionId)) return false;
    const parked = this.parked.get(connectionId);
    return !parked || (parked.app === app && parked.clientId === clientId);
  }
  /** The channels a resuming connection is still present on (and no longer parked). */
  unpark(connectionId: string): string[] {
    const parked = this.parked.get(connectionId);
    if (!parked) return [];
    clearTimeout(parked.timer);
    this.parked.delete(connectionId);
    return parked.channels;
  }
  /**
   * Keep the session in a list checked every `EXPIRY_HORIZON_MS / 3`, and arm its expiry timer once
   * its token is within the horizon: one timer for every long-lived token instead of one per connection.
   */
  watchExpiry(session: Session): void {
    this.expiring.add(session);
    if (this.expirySweep) return;
    this.expirySweep = setInterval(() => this.sweepExpiring(), EXPIRY_HORIZON_MS / 3);
    this.expirySweep.unref();
  }
  unwatchExpiry(session: Session): void {
    this.expiring.delete(session);
  }
  private sweepExpiring(): void {
    const soon = Date.now() + EXPIRY_HORIZON_MS;
    for (const session of this.expiring) {
      const expiresAt = session.expiresAt;
      if (expiresAt === undefined || expiresAt <= soon) {
        this.expiring.delete(session);
        session.armExpiryTimer();
      }
    }
    if (this.expiring.size === 0) {
      clearInterval(this.expirySweep);
      this.expirySweep = undefined;
    }
  }
  get size(): number {
    return this.byId.size;
  }
  all(): IterableIterator<Session> {
    return this.byId.values();
  }
}

/** How long a replay waits for the socket to drain between two pieces before the reader counts as slow. */
const REPLAY_DRAIN_TIMEOUT_MS = 30_000;

/** Requests answered one by one (41300) in an oversized binary message; more closes it (1009). */
const MAX_OVERSIZE_REFUSALS = 64;

/** Messages a client may send behind its auth frame before that frame is answered. */
const MAX_FRAMES_BEHIND_AUTH = 32;

/** Records one binary message may carry (a batch of 1000 members is one record); more closes the connection. */
const MAX_RECORDS_PER_MESSAGE = 512;

/** Tokens expiring further away than this wait in the registry's list, which is checked every third of it. */
const EXPIRY_HORIZON_MS = 60_000;


/** The direct-message inbox takes every message sent to the client id. */
const acceptAll = () => true;

type PublishAck = { t: 'ack'; id: number; seq?: number; duplicate?: boolean };

/**
 * One connection's protocol state machine: authenticate, then subscribe, publish and take part
 * in presence, each checked against the token's capability. Knows frames, not sockets.
 */
export class Session implements Peer {
  connectionId = '';
  echo = true;
  /** Foony's binary records instead of JSON text; decided by the first frame and kept. */
  private binary?: boolean;
  private identity?: Identity;
  /**
   * A Foony client back from a server that has since restarted (its resumed connection id is from
   * another process) while serials did not survive the restart: its cursors point into streams
   * that no longer exist, so they are treated like a stale epoch (replay what is kept, resumed false).
   */
  private staleCursors = false;
  private resynced?: Set<string>;
  private closed = false;
  /** The first frame (which must be auth) has arrived; until then `receiveFirst` screens what comes. */
  private authStarted = false;
  /** The connection broke the protocol and is closing: nothing more it sends is read. */
  private refused = false;
  /** Messages received after the auth frame but before its answer. */
  private waitingForAuth = 0;
  /** Frames are handled one at a time, in arrival order, so per-channel order is kept. */
  private chain: Promise<void> = Promise.resolve();
  private readonly subscriptions = new Map<string, Subscription>();
  // Made on first use, like the token bucket: most connections never need them, and an idle
  // connection should cost little more than its socket.
  private presenceSubs?: Set<string>;
  private presenceHeld?: Set<string>;
  /** Platform topics: one engine subscription per topic, holding every filter of this connection. */
  private topics?: Map<string, { sub: Subscription; filters: Map<string, TopicFilter | undefined> }>;
  private topicOfSid?: Map<string, string>;
  private inbox?: Subscription;
  private publishBucket?: TokenBucket;
  private presenceBucket?: TokenBucket;
  /** The token ran out and the grace period runs: only a renewal (or a ping) is taken. */
  private expired = false;
  private authTimer?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;

  constructor(
    private readonly ctx: SessionContext,
    private readonly wire: Wire,
    /** The client's network address, for the log of a refused auth. */
    private readonly address?: string,
  ) {
    this.authTimer = setTimeout(() => this.close(CloseCode.AuthTimeout, 'no auth frame in time'), ctx.limits.authTimeoutMs);
  }

  get speaksBinary(): boolean {
    return this.binary === true;
  }

  get presenceByConnection(): boolean {
    return this.binary === true;
  }

  get clientId(): string | undefined {
    return this.identity?.clientId;
  }

  get app(): string | undefined {
    return this.identity?.app;
  }

  get expiresAt(): number | undefined {
    return this.identity?.expiresAt;
  }

  /** The API key this connection's credentials came from, if any (see `Identity.keyName`). */
  get keyName(): string | undefined {
    return this.identity?.keyName;
  }

  /**
   * A message from the transport: a JSON text frame, or (when the first one was binary) a run of
   * binary records. The first message picks the codec for the life of the connection.
   */
  receive(data: string | Buffer): void {
    if (this.closed || this.refused) return;
    this.binary ??= typeof data !== 'string';
    if (!this.authStarted) return this.receiveFirst(data);
    // Frames sent right behind the auth frame wait for its answer; only a few may.
    if (!this.identity && ++this.waitingForAuth > MAX_FRAMES_BEHIND_AUTH) return this.violate('too many frames before the auth frame was answered');
    if (this.binary) {
      if (typeof data === 'string') return this.enqueue(new FrameError('text frame on a binary connection: send binary records'));
      if (data.length > this.ctx.limits.maxFrameBytes) return this.refuseOversized(data);
      const frames = decodeClientRecords(data, MAX_RECORDS_PER_MESSAGE + 1);
      if (frames.length > MAX_RECORDS_PER_MESSAGE) return this.violate(`more than ${MAX_RECORDS_PER_MESSAGE} records in one message`);
      for (const frame of frames) this.enqueue(frame);
      return;
    }
    let frame: ClientFrame | FrameError;
    try {
      if (typeof data !== 'string') throw new FrameError('binary frame on a JSON connection: send text frames');
      frame = decodeClientFrame(data);
    } catch (err) {
      frame = err instanceof FrameError ? err : new FrameError('frame could not be read');
    }
    this.enqueue(frame);
  }

  /**
   * Before authentication a connection may send one auth frame of bounded size; anything else (or
   * anything more before the auth is answered) closes it, so an unauthenticated peer costs next to nothing.
   */
  private receiveFirst(data: string | Buffer): void {
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const limit = this.ctx.limits.maxAuthFrameBytes;
    if (size > limit) {
      // An auth frame too big is a credential problem (40101, close 4101: a client that renews gets a
      // few more tries, not a loop); anything else that big is simply not an auth frame (4002).
      if (looksLikeAuth(data)) return this.violate(`auth frame of ${size} bytes is over the limit of ${limit}`, CloseCode.AuthRefused, ErrorCode.BadAuth);
      return this.violate(`a first frame of ${size} bytes: send an auth frame (at most ${limit} bytes) first`, CloseCode.ProtocolViolation, ErrorCode.TooLarge);
    }
    let frame: ClientFrame | FrameError;
    if (this.binary) {
      if (typeof data === 'string') return this.violate('text frame on a binary connection: send binary records');
      const records = decodeClientRecords(data, 2);
      if (records.length !== 1) return this.violate('send one auth record first, alone');
      frame = records[0];
    } else {
      try {
        frame = decodeClientFrame(data as string);
      } catch (err) {
        frame = err instanceof FrameError ? err : new FrameError('frame could not be read');
      }
    }
    if (frame instanceof FrameError) return this.violate(frame.message, CloseCode.ProtocolViolation, frame.code, frame.requestId);
    if (frame.t !== 'auth') {
      return this.violate(`send an auth frame first, not ${JSON.stringify(frame.t)}`, CloseCode.ProtocolViolation, ErrorCode.BadAuth, requestIdOf(frame));
    }
    this.authStarted = true;
    this.enqueue(frame);
  }

  /** Say what was wrong, then close: for peers that broke the protocol in a way no reply mends. */
  private violate(message: string, closeCode: number = CloseCode.ProtocolViolation, code: number = ErrorCode.BadFrame, id?: number): void {
    if (this.refused) return;
    this.refused = true;
    this.chain = this.chain.then(() => {
      this.send(id === undefined ? { t: 'err', code, message } : { t: 'err', id, code, message });
      this.close(closeCode, message.slice(0, 120));
    });
  }

  /** Every request in an oversized binary message gets 41300, so the client stops resending it. */
  private refuseOversized(data: Buffer): void {
    const limit = this.ctx.limits.maxFrameBytes;
    const err = new HubbubError(ErrorCode.TooLarge, `message of ${data.length} bytes is over the limit of ${limit}`);
    const frames = decodeClientRecords(data, MAX_OVERSIZE_REFUSALS + 1);
    for (const frame of frames.slice(0, MAX_OVERSIZE_REFUSALS)) {
      const id = frame instanceof FrameError ? frame.requestId : requestIdOf(frame);
      this.chain = this.chain.then(() => this.fail(err, id));
      if (!(frame instanceof FrameError) && frame.t === 'auth') this.chain = this.chain.then(() => this.close(CloseCode.TooBig, 'auth too large'));
    }
    // An honest client's oversized message is a batch of a few publishes; answering hundreds of
    // refusals would make it an amplifier.
    if (frames.length > MAX_OVERSIZE_REFUSALS) this.violate(`more than ${MAX_OVERSIZE_REFUSALS} requests in an oversized message`, CloseCode.TooBig, ErrorCode.TooLarge);
  }

  /** Frames are handled in turn, and errors answered in turn, so replies keep the order of requests. */
  private enqueue(frame: ClientFrame | FrameError): void {
    if (frame instanceof FrameError) {
      this.chain = this.chain.then(() => this.fail(frame, frame.requestId));
      return;
    }
    this.chain = this.chain.then(() => this.handle(frame)).catch((err) => this.fail(err, requestIdOf(frame)));
  }

  deliver(frame: Outbound): void {
    if (this.closed) return;
    if (this.binary && frame.frame.t === 'evt') return; // platform events have no binary form
    if (this.wire.sendShared) this.wire.sendShared(frame, this.binary === true);
    else if (this.binary) this.wire.sendRecords(frame.record);
    else this.wire.send(frame.text);
  }

  /** Send one frame; returns about how many bytes that queued. */
  send(frame: ServerFrame): number {
    if (this.closed) return 0;
    if (this.binary) {
      const records = encodeServerFrame(frame);
      this.wire.sendRecords(records);
      return records.length;
    }
    const text = JSON.stringify(frame);
    this.wire.send(text);
    return text.length;
  }

  /** A new connection resumed this one: go, keeping presence for it as after a drop. */
  supersede(): void {
    if (this.closed) return;
    // Dispose first: a transport may dispose synchronously on close, and that would not park.
    this.dispose(true);
    this.wire.close(CloseCode.Superseded, 'resumed by another connection');
  }

  /** Close from the server side (drain, slow consumer, policy). */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.wire.close(code, reason);
    this.dispose();
  }

  /**
   * The transport saw the socket go: release everything this connection held. After an `abrupt`
   * drop its presence stays for `presenceResumeMs`, for the client to resume the connection.
   */
  dispose(abrupt = false): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    this.ctx.sessions.unwatchExpiry(this);
    this.ctx.sessions.remove(this);
    const app = this.identity?.app;
    if (!app) return;
    const { clientId } = this.identity!;
    this.ctx.notify?.(app, 'client.disconnected', { clientId, connectionId: this.connectionId });
    for (const [channel, sub] of this.subscriptions) this.ctx.router.unsubscribe(channelKeyOf(app, channel), sub);
    for (const channel of this.presenceSubs ?? []) this.ctx.router.unsubscribePresence(channelKeyOf(app, channel), this);
    for (const [topic, { sub }] of this.topics ?? []) this.ctx.router.unsubscribe(topicKey(app, topic), sub);
    if (this.inbox) this.ctx.router.unsubscribe(directKey(app, this.identity!.clientId), this.inbox);
    const held = [...(this.presenceHeld ?? [])];
    const leave = () => {
      for (const channel of held) this.leavePresence(channel).catch(() => {});
    };
    const keepFor = this.ctx.limits.presenceResumeMs;
    // Only Foony (binary) clients resume their presence; Hubbub's SDK re-enters it by choice.
    if (abrupt && this.binary && held.length > 0 && keepFor > 0) this.ctx.sessions.park(this.connectionId, app, clientId, held, keepFor, leave);
    else leave();
  }

  private async handle(frame: ClientFrame): Promise<void> {
    // Pipelined requests answered at once must not hold the event loop for every other connection.
    const turn = pause();
    if (turn) await turn;
    if (this.closed) return;
    if (frame.t === 'auth') return this.auth(frame);
    if (frame.t === 'ping') return void this.send(frame.id === undefined ? { t: 'pong' } : { t: 'pong', id: frame.id });
    if (!this.identity) throw new HubbubError(ErrorCode.BadAuth, 'send an auth frame first');
    if (this.expired) throw new HubbubError(ErrorCode.AuthExpired, 'token expired: send a fresh auth frame before anything else');
    switch (frame.t) {
      case 'sub':
        return this.subscribe(frame);
      case 'unsub':
        return this.unsubscribe(frame.channel, frame.id);
      case 'pub':
        return this.publish(frame);
      case 'pres':
        return this.presence(frame);
      case 'presSub':
        return this.presenceSubscribe(frame.channel, frame.id);
      case 'presUnsub':
        return this.presenceUnsubscribe(frame.channel, frame.id);
      case 'hist':
        return this.history(frame);
      case 'fetch':
        return this.fetch(frame);
      case 'tsub':
        return this.topicSubscribe(frame);
      case 'tunsub':
        return this.topicUnsubscribe(frame.sid, frame.id);
      case 'dm':
        return this.directMessage(frame);
    }
  }

  private async auth(frame: AuthFrame): Promise<void> {
    let identity: Identity;
    try {
      identity = await this.ctx.authenticate(frame, this.address);
    } catch (err) {
      // A refused first auth ends the connection (after saying why): the client's next step is a new
      // token, not another frame here. A refused renewal keeps the connection until its token runs out.
      if (!this.identity && !this.closed) this.refuse(err);
      throw err;
    }
    // The socket may have gone while the credentials were checked: take nothing over, hold nothing.
    if (this.closed) return;
    if (this.identity) {
      // Renewal on a live connection: the same client of the same app, with a later expiry.
      if (identity.app !== this.identity.app || identity.clientId !== this.identity.clientId) {
        throw new HubbubError(ErrorCode.BadAuth, 'a renewed token must be for the same app and client id');
      }
      this.expired = false;
      this.identity = identity;
      await this.dropWhatIsNoLongerAllowed();
    } else {
      clearTimeout(this.authTimer);
      this.authTimer = undefined;
      // Refused for a full server: nothing is taken over or announced; the transport closes it.
      if (this.wire.authenticated?.(identity.app) === false) return this.dispose();
      this.connectionId = this.pickConnectionId(frame.resumeConnectionId, identity);
      const resume = frame.resumeConnectionId;
      this.staleCursors =
        this.binary === true && resume !== undefined && !this.ids.fromThisProcess(resume) && !this.ctx.engine.serialsOutliveProcess;
      for (const channel of this.ctx.sessions.unpark(this.connectionId)) (this.presenceHeld ??= new Set()).add(channel);
      this.echo = frame.echo !== false;
      this.ctx.sessions.add(this);
      if (!this.binary) {
        // Direct messages to this client id reach every one of its connections, on any node.
        this.inbox = { peer: this, accepts: acceptAll };
        await this.ctx.router.subscribe(directKey(identity.app, identity.clientId), this.inbox);
        if (this.closed) return void this.ctx.router.unsubscribe(directKey(identity.app, identity.clientId), this.inbox);
      }
      this.ctx.notify?.(identity.app, 'client.connected', { clientId: identity.clientId, connectionId: this.connectionId });
    }
    this.identity = identity;
    this.armExpiry(identity.expiresAt);
    this.send({
      t: 'connected',
      connectionId: this.connectionId,
      clientId: identity.clientId,
      keepAliveMs: this.ctx.limits.keepAliveMs,
      // The SDK refuses bigger requests itself (41300) rather than have the socket closed with 1009.
      maxFrameBytes: this.ctx.limits.maxFrameBytes,
      ...(identity.expiresAt ? { expiresAt: identity.expiresAt } : {}),
    });
  }

  private pickConnectionId(resume: string | undefined, identity: Identity): string {
    // A Foony client that resumes a connection the server still thinks is live (a network blip
    // it did not notice) takes it over: the stale one goes, its presence parked for this one.
    const stale = resume === undefined ? undefined : this.ctx.sessions.get(resume);
    if (this.binary && stale?.speaksBinary && stale.app === identity.app && stale.clientId === identity.clientId) {
      stale.supersede();
    }
    // Only an id a server of this deployment issued to this very app and client may be taken again.
    const usable =
      resume !== undefined &&
      this.ids.issuedTo(resume, identity.app, identity.clientId) &&
      this.ctx.sessions.resumable(resume, identity.app, identity.clientId);
    return usable ? resume : this.ids.issue(identity.app, identity.clientId);
  }

  private get ids(): ConnectionIds {
    return this.ctx.connectionIds ?? processConnectionIds;
  }

  /**
   * A renewed token may grant less than the one before: every subscription, presence watch, presence
   * membership and topic it no longer allows ends, each with an `err` frame (40301) naming its channel.
   */
  private async dropWhatIsNoLongerAllowed(): Promise<void> {
    const cap = this.identity!.capability;
    const refuse = (channel: string, what: string) =>
      this.send({ t: 'err', code: ErrorCode.Capability, channel, message: `the renewed token no longer allows ${what} on ${JSON.stringify(channel)}` });
    for (const [channel, sub] of [...this.subscriptions]) {
      if (allows(cap, channel, 'subscribe')) continue;
      this.subscriptions.delete(channel);
      this.ctx.router.unsubscribe(this.key(channel), sub);
      refuse(channel, 'subscribe');
    }
    for (const channel of [...(this.presenceSubs ?? [])]) {
      if (allows(cap, channel, 'subscribe')) continue;
      this.presenceSubs!.delete(channel);
      this.ctx.router.unsubscribePresence(this.key(channel), this);
      refuse(channel, 'presence (watching)');
    }
    for (const channel of [...(this.presenceHeld ?? [])]) {
      if (allows(cap, channel, 'presence')) continue;
      await this.leavePresence(channel);
      refuse(channel, 'presence');
    }
    for (const [sid, topic] of [...(this.topicOfSid ?? [])]) {
      if (allows(cap, topic, 'subscribe')) continue;
      this.dropTopicFilter(sid);
      refuse(topic, 'subscribe (topic)');
    }
  }

  /**
   * When the token runs out: tell the client (40102), then close unless it renews in time. Binary
   * (Foony) clients never renew in-band: they renew by reconnecting, so they are closed at once.
   */
  private armExpiry(expiresAt: number | undefined): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.ctx.sessions.unwatchExpiry(this);
    if (!expiresAt) return;
    // A token with hours to go waits in the registry's list rather than in a timer of its own.
    if (expiresAt - Date.now() > EXPIRY_HORIZON_MS) return this.ctx.sessions.watchExpiry(this);
    this.armExpiryTimer(expiresAt);
  }

  /** Called by the registry once the token's expiry is within the horizon. */
  armExpiryTimer(expiresAt = this.identity?.expiresAt): void {
    if (this.closed || !expiresAt) return;
    const fire = () => {
      this.expired = true;
      this.send({ t: 'err', code: ErrorCode.AuthExpired, message: 'token expired: send a fresh auth frame' });
      const grace = this.binary ? 0 : this.ctx.limits.authGraceMs;
      this.expiryTimer = setTimeout(() => this.close(CloseCode.AuthExpired, 'token expired'), grace);
    };
    this.expiryTimer = setTimeout(fire, Math.max(0, expiresAt - Date.now()));
  }

  private key(channel: string): string {
    return channelKeyOf(this.identity!.app, channel);
  }

  private async subscribe(frame: SubscribeFrame): Promise<void> {
    assertAllowed(this.identity!.capability, frame.channel, 'subscribe');
    const key = this.key(frame.channel);
    const existing = this.subscriptions.get(frame.channel);
    if (!existing) this.assertSubscriptionRoom();
    if (existing && frame.lastSerial === undefined) {
      const pos = await this.ctx.engine.position(key);
      return void this.send({ t: 'ack', id: frame.id, seq: pos.seq, epoch: pos.epoch });
    }
    const sub: Subscription = existing ?? { peer: this, pending: [] };
    sub.pending ??= [];
    if (!existing) {
      this.subscriptions.set(frame.channel, sub);
      await this.ctx.router.subscribe(key, sub);
    }
    try {
      let lastSent = 0;
      let ack: { seq: number; epoch: string; resumed?: boolean };
      if (frame.lastSerial !== undefined) {
        // A resume on a subscription this connection already has never repeats what it was sent.
        const from = Math.max(frame.lastSerial, existing?.lastSeq ?? 0);
        const recovery = await this.ctx.engine.recover(key, from, this.epochOf(frame.epoch, frame.channel));
        await this.replay(frame.channel, recovery.messages, sub);
        // Nothing replayed: the cursor stands, unless it belongs to a stream that was reset.
        lastSent = recovery.messages.at(-1)?.seq ?? Math.min(from, recovery.seq);
        ack = { seq: recovery.seq, epoch: recovery.epoch, resumed: recovery.resumed };
      } else {
        ack = await this.ctx.engine.position(key);
        lastSent = ack.seq;
      }
      const pending = sub.pending;
      sub.pending = undefined;
      if (sub.overflowed) throw this.slowConsumer('too many messages arrived while the subscription caught up');
      for (const m of pending) {
        if (m.seq === undefined || m.seq > lastSent) this.sendMessage(frame.channel, m, sub);
      }
      sub.replayedThrough = lastSent;
      sub.replayedAt = Date.now();
      this.send({ t: 'ack', id: frame.id, ...ack });
    } catch (err) {
      sub.pending = undefined;
      this.subscriptions.delete(frame.channel);
      this.ctx.router.unsubscribe(key, sub);
      throw err;
    }
  }

  /**
   * The epoch a cursor claims; binary clients send none, so a stale process is the only tell. The
   * first cursor per channel is from before the restart; after that resync they are this stream's.
   */
  private epochOf(claimed: string | undefined, channel: string): string | undefined {
    if (claimed !== undefined || !this.staleCursors || this.resynced?.has(channel)) return claimed;
    (this.resynced ??= new Set()).add(channel);
    return 'from-another-process';
  }

  private sendMessage(channel: string, m: StoredMessage, sub: Subscription): number {
    if (m.seq !== undefined) sub.lastSeq = Math.max(sub.lastSeq ?? 0, m.seq);
    if (!this.echo && m.connectionId === this.connectionId) return 0;
    return this.send(messageFrame(channel, m) satisfies MessageFrame);
  }

  /**
   * Send a catch-up in pieces of at most `maxReplayChunkBytes`, waiting for the socket to drain between
   * them: a replay obeys the unsent-bytes limit like live traffic, without being cut for it.
   */
  private async replay(channel: string, messages: StoredMessage[], sub: Subscription): Promise<void> {
    let queued = 0;
    for (const m of messages) {
      queued += this.sendMessage(channel, m, sub);
      if (queued < this.ctx.limits.maxReplayChunkBytes) continue;
      queued = 0;
      if (this.wire.drain && !(await this.wire.drain(REPLAY_DRAIN_TIMEOUT_MS))) throw this.slowConsumer('the catch-up was not read in time');
      if (this.closed) return;
    }
  }

  /** Cut a connection that does not read what it asked for; the error is for the request that waited. */
  private slowConsumer(why: string): HubbubError {
    this.close(CloseCode.SlowConsumer, `slow consumer: ${why}`);
    return new HubbubError(ErrorCode.Unavailable, `slow consumer: ${why}`);
  }

  private async unsubscribe(channel: string, id: number): Promise<void> {
    const sub = this.subscriptions.get(channel);
    if (sub) {
      this.subscriptions.delete(channel);
      this.ctx.router.unsubscribe(this.key(channel), sub);
    }
    // Foony's SDK has no separate presence detach: unsubscribing a channel ends its presence watch
    // and its membership (the SDK stops re-entering it).
    if (this.binary) {
      if (this.presenceSubs?.delete(channel)) this.ctx.router.unsubscribePresence(this.key(channel), this);
      if (this.presenceHeld?.has(channel)) await this.leavePresence(channel);
    }
    this.send({ t: 'ack', id });
  }

  private async publish(frame: PublishFrame): Promise<void> {
    assertAllowed(this.identity!.capability, frame.channel, 'publish');
    this.spendPublishToken();
    const key = this.key(frame.channel);
    const started = performance.now();
    // One fixed shape for every draft (no conditional spreads): cheaper to build and to read.
    const result = await this.ctx.engine.publish(key, {
      name: frame.name,
      data: frame.data,
      messageId: frame.messageId,
      clientId: this.identity!.clientId,
      connectionId: this.connectionId,
      encoding: frame.encoding,
      messages: frame.messages,
      ephemeral: frame.ephemeral === true ? true : undefined,
    });
    this.ctx.stats?.engineCall(performance.now() - started);
    if (!result.duplicate) {
      this.ctx.stats?.published(key, this.identity!.app);
      this.ctx.notify?.(this.identity!.app, 'message.published', {
        channel: frame.channel,
        name: frame.name,
        data: frame.data,
        ...(frame.messages ? { messages: frame.messages } : {}),
        messageId: frame.messageId,
        clientId: this.identity!.clientId,
        seq: result.seq,
      });
    }
    const ack: PublishAck = { t: 'ack', id: frame.id };
    if (result.seq !== undefined) ack.seq = result.seq;
    if (result.duplicate) ack.duplicate = true;
    this.send(ack);
  }

  private async presence(frame: PresenceFrame): Promise<void> {
    assertAllowed(this.identity!.capability, frame.channel, 'presence');
    const key = this.key(frame.channel);
    const { clientId } = this.identity!;
    if (frame.action === 'leave') return void this.send(presenceAck(frame.id, await this.leavePresence(frame.channel)));
    const limits = this.ctx.limits;
    const size = (frame.data === undefined ? 0 : Buffer.byteLength(JSON.stringify(frame.data))) + Buffer.byteLength(frame.encoding ?? '');
    if (size > limits.maxPresenceBytes) {
      throw new HubbubError(ErrorCode.TooLarge, `presence data and encoding are ${size} bytes; the limit is ${limits.maxPresenceBytes}`);
    }
    if (!this.presenceHeld?.has(frame.channel) && (this.presenceHeld?.size ?? 0) >= limits.maxPresenceChannels) {
      throw new HubbubError(ErrorCode.RateLimited, `present on at most ${limits.maxPresenceChannels} channels per connection`);
    }
    if (!(this.presenceBucket ??= new TokenBucket(limits.presenceRate, limits.presenceBurst)).take()) {
      throw new HubbubError(ErrorCode.RateLimited, `presence changes over ${limits.presenceRate}/s: slow down`);
    }
    (this.presenceHeld ??= new Set()).add(frame.channel);
    const outcome = await this.ctx.engine.presenceEnter(key, {
      clientId,
      connectionId: this.connectionId,
      ...(frame.data !== undefined ? { data: frame.data } : {}),
      ...(frame.encoding !== undefined ? { encoding: frame.encoding } : {}),
    });
    if (outcome.action === 'enter') {
      this.ctx.notify?.(this.identity!.app, 'presence.enter', { channel: frame.channel, clientId, data: frame.data });
    }
    this.send(presenceAck(frame.id, outcome));
  }

  private async leavePresence(channel: string): Promise<PresenceOutcome> {
    const { app, clientId } = this.identity!;
    this.presenceHeld?.delete(channel);
    const outcome = await this.ctx.engine.presenceLeave(this.key(channel), clientId, this.connectionId);
    if (outcome.action === 'leave') this.ctx.notify?.(app, 'presence.leave', { channel, clientId });
    return outcome;
  }

  private async presenceSubscribe(channel: string, id: number): Promise<void> {
    assertAllowed(this.identity!.capability, channel, 'subscribe');
    const key = this.key(channel);
    if (!this.presenceSubs?.has(channel)) {
      this.assertSubscriptionRoom();
      (this.presenceSubs ??= new Set()).add(channel);
      await this.ctx.router.subscribePresence(key, this);
    }
    if (!this.binary) {
      const { members, pseq } = await this.ctx.engine.presenceSync(key);
      return void this.send({ t: 'ack', id, members, pseq });
    }
    // The binary ack has no member list: the snapshot (a member per connection) follows it as enters.
    const holders = await this.ctx.engine.presenceSnapshot(key);
    this.send({ t: 'ack', id });
    for (const { timestamp, ...member } of holders) this.send(presenceFrame(channel, { action: 'enter', member, timestamp }));
  }

  private presenceUnsubscribe(channel: string, id: number): void {
    if (this.presenceSubs?.delete(channel)) this.ctx.router.unsubscribePresence(this.key(channel), this);
    this.send({ t: 'ack', id });
  }

  private async history(frame: HistoryFrame): Promise<void> {
    assertAllowed(this.identity!.capability, frame.channel, 'history');
    await this.readable();
    const limit = Math.min(Math.max(frame.limit ?? 100, 1), this.ctx.limits.maxHistoryPage);
    const page = await this.ctx.engine.history(this.key(frame.channel), {
      limit,
      before: frame.before,
      direction: frame.direction ?? 'backwards',
      maxBytes: this.ctx.limits.maxReplayChunkBytes,
    });
    const all = page.messages.map((m) => messageFrame(frame.channel, m));
    // One reply is one frame: past the replay chunk it is cut, keeping the end nearest the cursor,
    // and says `more` so the client pages on (backwards: from its oldest serial; forwards: its newest).
    const messages = withinBytes(all, this.ctx.limits.maxReplayChunkBytes, (frame.direction ?? 'backwards') === 'backwards');
    this.send({ t: 'histRes', id: frame.id, channel: frame.channel, messages, more: page.more || messages.length < all.length });
  }

  private async fetch(frame: FetchFrame): Promise<void> {
    assertAllowed(this.identity!.capability, frame.channel, 'history');
    await this.readable();
    const recovery = await this.ctx.engine.recover(this.key(frame.channel), frame.fromSerial, this.epochOf(undefined, frame.channel));
    // Oldest first and contiguous from the cursor: a cut reply is a shorter catch-up, and the client's
    // next gap (or fetch) takes it on from its last serial.
    const messages = withinBytes(recovery.messages.map((m) => messageFrame(frame.channel, m)), this.ctx.limits.maxReplayChunkBytes, false);
    this.send({ t: 'fetchRes', id: frame.id, channel: frame.channel, messages, resumed: recovery.resumed });
  }

  /**
   * Before a reply that may be large: what is already queued for this client must have mostly gone out,
   * so pipelined reads cost one reply of memory at a time, not all of them at once.
   */
  private async readable(): Promise<void> {
    if (this.wire.drain && !(await this.wire.drain(REPLAY_DRAIN_TIMEOUT_MS))) throw this.slowConsumer('replies were not read in time');
  }

  private async topicSubscribe(frame: TopicSubscribeFrame): Promise<void> {
    assertAllowed(this.identity!.capability, frame.topic, 'subscribe');
    const previous = this.topicOfSid?.get(frame.sid);
    if (previous !== undefined && previous !== frame.topic) this.dropTopicFilter(frame.sid);
    const key = topicKey(this.identity!.app, frame.topic);
    // A new subscription id takes a place, whether or not its topic is already watched.
    if (!this.topicOfSid?.has(frame.sid)) this.assertSubscriptionRoom();
    let entry = this.topics?.get(frame.topic);
    const created = !entry;
    if (!entry) {
      const filters = new Map<string, TopicFilter | undefined>();
      const sub: Subscription = {
        peer: this,
        pending: [],
        accepts: (m) => {
          const payload = (m.data as RealtimeEvent).payload;
          for (const filter of filters.values()) if (matchesFilter(filter, payload)) return true;
          return false;
        },
      };
      entry = { sub, filters };
      (this.topics ??= new Map()).set(frame.topic, entry);
      await this.ctx.router.subscribe(key, sub);
    }
    entry.filters.set(frame.sid, frame.filter);
    (this.topicOfSid ??= new Map()).set(frame.sid, frame.topic);
    // Replay what the client missed (filtered), then what arrived meanwhile, then go live.
    let position: { seq: number; epoch: string };
    let lastSent = 0;
    const replay = (m: StoredMessage) => {
      if (matchesFilter(frame.filter, (m.data as RealtimeEvent).payload)) this.send(eventFrame(m));
    };
    if (frame.lastSerial !== undefined) {
      const recovery = await this.ctx.engine.recover(key, frame.lastSerial, frame.epoch);
      for (const m of recovery.messages) replay(m);
      lastSent = recovery.messages.at(-1)?.seq ?? Math.min(frame.lastSerial, recovery.seq);
      position = { seq: recovery.seq, epoch: recovery.epoch };
    } else {
      position = await this.ctx.engine.position(key);
      lastSent = position.seq;
    }
    if (created) {
      const pending = entry.sub.pending ?? [];
      entry.sub.pending = undefined;
      for (const m of pending) if ((m.seq ?? Infinity) > lastSent && entry.sub.accepts!(m)) this.send(eventFrame(m));
      entry.sub.replayedThrough = lastSent;
      entry.sub.replayedAt = Date.now();
    }
    this.send({ t: 'ack', id: frame.id, seq: position.seq, epoch: position.epoch });
  }

  private topicUnsubscribe(sid: string, id: number): void {
    this.dropTopicFilter(sid);
    this.send({ t: 'ack', id });
  }

  private dropTopicFilter(sid: string): void {
    const topic = this.topicOfSid?.get(sid);
    if (topic === undefined) return;
    this.topicOfSid!.delete(sid);
    const entry = this.topics!.get(topic)!;
    entry.filters.delete(sid);
    if (entry.filters.size === 0) {
      this.topics!.delete(topic);
      this.ctx.router.unsubscribe(topicKey(this.identity!.app, topic), entry.sub);
    }
  }

  private async directMessage(frame: DirectMessageFrame): Promise<void> {
    // A direct message is a publish to the recipient's inbox channel `direct.<clientId>`.
    assertAllowed(this.identity!.capability, `direct.${frame.to}`, 'publish');
    this.spendPublishToken();
    const event: RealtimeEvent = {
      id: newEventId(),
      topic: `direct.${frame.to}`,
      source: 'socket',
      type: frame.name,
      payload: frame.data ?? null,
      metadata: { timestamp: Date.now(), clientId: this.identity!.clientId },
    };
    await this.ctx.engine.publish(directKey(this.identity!.app, frame.to), {
      name: frame.name,
      data: event,
      messageId: event.id,
      clientId: this.identity!.clientId,
      ephemeral: true,
    });
    this.send({ t: 'ack', id: frame.id });
  }

  /** Channels, presence watches and topics count together against one bound. */
  private assertSubscriptionRoom(): void {
    // Each topic subscription id counts: one topic may hold many filters of one connection.
    const held = this.subscriptions.size + (this.presenceSubs?.size ?? 0) + (this.topicOfSid?.size ?? 0);
    const max = this.ctx.limits.maxSubscriptions;
    if (held >= max) throw new HubbubError(ErrorCode.RateLimited, `at most ${max} subscriptions (channels, presence and topics) per connection`);
  }

  /** Publishes and direct messages share one rate limit per connection. */
  private spendPublishToken(): void {
    const { publishRate, publishBurst } = this.ctx.limits;
    if (!(this.publishBucket ??= new TokenBucket(publishRate, publishBurst)).take()) {
      throw new HubbubError(ErrorCode.RateLimited, `publish rate over ${publishRate}/s: slow down`);
    }
  }

  /** Close after the error frame for a refused first auth has gone out, with the close code of its class. */
  private refuse(err: unknown): void {
    const expired = err instanceof HubbubError && err.code === ErrorCode.AuthExpired;
    const code = expired ? CloseCode.AuthExpired : CloseCode.AuthRefused;
    this.chain = this.chain.then(() => this.close(code, expired ? 'token expired' : 'credentials refused'));
  }

  /** Answer a failed frame with an error frame; the connection stays up. */
  private fail(err: unknown, id: number | undefined): void {
    const known = err instanceof HubbubError;
    const code = known ? err.code : ErrorCode.Server;
    const message = known ? err.message : 'internal server error';
    this.ctx.stats?.error(code, message);
    this.send(id === undefined ? { t: 'err', code, message } : { t: 'err', id, code, message });
    if (!known) console.error(err);
  }
}

/** As many frames as fit in `maxBytes` (at least one), counted from the end when `fromEnd`. */
function withinBytes(frames: MessageFrame[], maxBytes: number, fromEnd: boolean): MessageFrame[] {
  let bytes = 0;
  let kept = 0;
  for (let i = 0; i < frames.length; i++) {
    bytes += JSON.stringify(frames[fromEnd ? frames.length - 1 - i : i]).length;
    if (bytes > maxBytes && kept > 0) break;
    kept++;
  }
  return fromEnd ? frames.slice(frames.length - kept) : frames.slice(0, kept);
}

/** A presence ack: the change's serial, and what watchers by client id saw, so the SDK can apply its own change. */
function presenceAck(id: number, { action, pseq }: PresenceOutcome): ServerFrame {
  return action ? { t: 'ack', id, pseq, action } : { t: 'ack', id, pseq };
}

/** Does a first message, too big to decode, start like an auth frame (JSON or binary)? */
function looksLikeAuth(data: string | Buffer): boolean {
  if (typeof data !== 'string') return startsWithAuthRecord(data);
  return /^\s*\{\s*"t"\s*:\s*"auth"/.test(data.slice(0, 64));
}

function requestIdOf(frame: ClientFrame): number | undefined {
  return 'id' in frame ? frame.id : undefined;
}
