import { ErrorCode, FrameError, HubbubError, type AuthFrame, type ClientFrame, type PublishFrame, type ServerFrame } from '@hubbub/protocol';
import { CloseCode } from './close-codes.js';
import { processConnectionIds } from './connection-ids.js';
import { pause } from './cooperative.js';
import { MAX_FRAMES_BEHIND_AUTH, MAX_FRAMES_PER_MESSAGE, MAX_OVERSIZE_REFUSALS } from './defaults.js';
import type { Dialect } from './dialect.js';
import type { Identity } from './identity.js';
import { processLog } from './log.js';
import { channelKeyOf, type Outbound } from './outbound.js';
import { TokenBucket } from './rate-limit.js';
import { RequestQueue } from './request-queue.js';
import { SessionChannels } from './session-channels.js';
import { SessionPresence } from './session-presence.js';
import type { LiveSession } from './session-registry.js';
import type { SessionContext, SessionScope } from './session-scope.js';
import { SessionTopics } from './session-topics.js';
import { TokenExpiry } from './token-expiry.js';
import type { Wire } from './wire.js';

/**
 * One connection's protocol state machine: authenticate, then subscribe, publish, take part in
 * presence, follow topics and send direct messages, each checked against the token's capability.
 * Knows frames, not sockets or codecs: its dialect (picked by the first message) decodes and encodes,
 * and says where the client expects other rules.
 */
export class Session implements SessionScope, LiveSession {
  connectionId = '';
  echo = true;
  presenceView: 'client' | 'connection' = 'client';
  private chosen?: Dialect;
  private authed?: Identity;
  private closed = false;
  /** The first frame (which must be auth) has arrived; until then `receiveFirst` screens what comes. */
  private authStarted = false;
  /** The connection broke the protocol and is closing: nothing more it sends is read. */
  private refused = false;
  /** Messages received after the auth frame but before its answer. */
  private waitingForAuth = 0;
  /** Frames are handled in arrival order (publishes begin before earlier ones are answered); a full backlog pauses reading. */
  private readonly requests: RequestQueue;
  private readonly channels = new SessionChannels(this);
  private readonly presence = new SessionPresence(this);
  private readonly topics = new SessionTopics(this);
  private readonly expiry = new TokenExpiry(this);
  private publishBucket?: TokenBucket;
  private authTimer?: NodeJS.Timeout;

  constructor(
    readonly ctx: SessionContext,
    readonly wire: Wire,
    /** The client's network address, for the log of a refused auth. */
    private readonly address?: string,
    /** Fixed by the endpoint the connection came in on; else picked by its first message. */
    dialect?: Dialect,
  ) {
    this.requests = new RequestQueue(wire, ctx.limits);
    if (dialect) this.speak(dialect);
    this.authTimer = setTimeout(() => this.close(CloseCode.AuthTimeout, 'no auth frame in time'), ctx.limits.authTimeoutMs);
  }

  /** Its dialect, and (below) its identity: only read once known. */
  get dialect(): Dialect {
    return this.chosen!;
  }

  get identity(): Identity {
    return this.authed!;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get clientId(): string | undefined {
    return this.authed?.clientId;
  }

  get app(): string | undefined {
    return this.authed?.app;
  }

  get expiresAt(): number | undefined {
    return this.authed?.expiresAt;
  }

  get keyName(): string | undefined {
    return this.authed?.keyName;
  }

  /** One message from the transport. The first one picks the dialect for the life of the connection. */
  receive(data: string | Buffer): void {
    if (this.closed || this.refused) return;
    if (!this.chosen) {
      const dialect = this.ctx.dialects.pick(data);
      if (!dialect) return this.violate('a first message no dialect of this server reads');
      this.speak(dialect);
    }
    if (!this.authStarted) return this.receiveFirst(data);
    // Frames sent right behind the auth frame wait for its answer; only a few may.
    if (!this.authed && ++this.waitingForAuth > MAX_FRAMES_BEHIND_AUTH) return this.violate('too many frames before the auth frame was answered');
    const dialect = this.chosen!;
    if (dialect.policy.refusesOversizedPerRequest && typeof data !== 'string' && data.length > this.ctx.limits.maxFrameBytes) {
      return this.refuseOversized(data);
    }
    const frames = dialect.decode(data, MAX_FRAMES_PER_MESSAGE + 1);
    if (frames.length > MAX_FRAMES_PER_MESSAGE) return this.violate(`more than ${MAX_FRAMES_PER_MESSAGE} frames in one message`);
    const last = frames.length - 1;
    for (let i = 0; i <= last; i++) this.enqueue(frames[i]!, i === last ? data.length : 0);
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
      if (this.chosen!.looksLikeAuth(data)) return this.violate(`auth frame of ${size} bytes is over the limit of ${limit}`, CloseCode.AuthRefused, ErrorCode.BadAuth);
      return this.violate(`a first frame of ${size} bytes: send an auth frame (at most ${limit} bytes) first`, CloseCode.ProtocolViolation, ErrorCode.TooLarge);
    }
    const frames = this.chosen!.decode(data, 2);
    if (frames.length !== 1) return this.violate('send one auth frame first, alone');
    const frame = frames[0]!;
    if (frame instanceof FrameError) return this.violate(frame.message, CloseCode.ProtocolViolation, frame.code, frame.requestId);
    if (frame.t !== 'auth') {
      return this.violate(`send an auth frame first, not ${JSON.stringify(frame.t)}`, CloseCode.ProtocolViolation, ErrorCode.BadAuth, requestIdOf(frame));
    }
    this.authStarted = true;
    this.enqueue(frame, size);
  }

  private speak(dialect: Dialect): void {
    this.chosen = dialect;
    this.presenceView = dialect.policy.presenceView;
    this.wire.speak?.(dialect);
  }

  /** Say what was wrong, then close: for peers that broke the protocol in a way no reply mends. */
  private violate(message: string, closeCode: number = CloseCode.ProtocolViolation, code: number = ErrorCode.BadFrame, id?: number): void {
    if (this.refused) return;
    this.refused = true;
    this.requests.then(() => {
      if (this.chosen) this.send(id === undefined ? { t: 'err', code, message } : { t: 'err', id, code, message });
      this.close(closeCode, message.slice(0, 120));
    });
  }

  /** Every request in an oversized message gets 41300, so the client stops resending it. */
  private refuseOversized(data: Buffer): void {
    const limit = this.ctx.limits.maxFrameBytes;
    const err = new HubbubError(ErrorCode.TooLarge, `message of ${data.length} bytes is over the limit of ${limit}`);
    const frames = this.chosen!.decode(data, MAX_OVERSIZE_REFUSALS + 1);
    const answered = frames.slice(0, MAX_OVERSIZE_REFUSALS);
    for (const frame of answered) {
      const id = frame instanceof FrameError ? frame.requestId : requestIdOf(frame);
      this.requests.push(() => this.fail(err, id), frame === answered.at(-1) ? data.length : 0, (e) => this.fail(e, id));
      if (!(frame instanceof FrameError) && frame.t === 'auth') this.requests.then(() => this.close(CloseCode.TooBig, 'auth too large'));
    }
    // An honest client's oversized message is a few publishes; hundreds of refusals would amplify.
    if (frames.length > MAX_OVERSIZE_REFUSALS) this.violate(`more than ${MAX_OVERSIZE_REFUSALS} requests in an oversized message`, CloseCode.TooBig, ErrorCode.TooLarge);
  }

  /** Handled in turn, errors answered in turn; a message's bytes count against the backlog until its last frame is done. */
  private enqueue(frame: ClientFrame | FrameError, bytes: number): void {
    if (frame instanceof FrameError) return this.requests.push(() => this.fail(frame, frame.requestId), bytes, (err) => this.fail(err, frame.requestId));
    if (frame.t === 'pub') return this.requests.pushPipelined(() => this.beginPublish(frame), bytes, (err) => this.fail(err, frame.id));
    this.requests.push(() => this.handle(frame), bytes, (err) => this.fail(err, requestIdOf(frame)));
  }

  deliver(frame: Outbound): void {
    if (this.closed) return;
    const dialect = this.chosen!;
    if (this.wire.sendShared) return this.wire.sendShared(frame, dialect);
    const bytes = frame.encodedFor(dialect);
    if (bytes === undefined) return;
    if (typeof bytes === 'string') this.wire.sendText(bytes);
    else this.wire.sendBinary(bytes);
  }

  send(frame: ServerFrame): number {
    if (this.closed) return 0;
    const bytes = this.chosen!.encode(frame);
    if (typeof bytes === 'string') this.wire.sendText(bytes);
    else this.wire.sendBinary(bytes);
    return bytes.length;
  }

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
   * drop of a dialect that resumes presence, it stays for `presenceResumeMs` for the client to resume.
   */
  dispose(abrupt = false, reason?: string): void {
    if (this.closed) return;
    // A client that says it suspends (a clean close) still means to come back.
    if (reason !== undefined && reason === this.chosen?.policy.suspendReason) abrupt = true;
    this.closed = true;
    clearTimeout(this.authTimer);
    this.expiry.stop();
    this.ctx.sessions.remove(this);
    if (!this.authed) return;
    const { app, clientId } = this.authed;
    this.ctx.notify?.(app, 'client.disconnected', { clientId, connectionId: this.connectionId });
    this.channels.release(app);
    this.presence.release(app, clientId, abrupt);
    this.topics.release(app, clientId);
  }

  key(channel: string): string {
    return channelKeyOf(this.authed!.app, channel);
  }

  assertSubscriptionRoom(): void {
    const held = this.channels.count + this.presence.watchCount + this.topics.count;
    const max = this.ctx.limits.maxSubscriptions;
    if (held >= max) throw new HubbubError(ErrorCode.RateLimited, `at most ${max} subscriptions (channels, presence and topics) per connection`);
  }

  spendPublishToken(): void {
    const { publishRate, publishBurst } = this.ctx.limits;
    if (!(this.publishBucket ??= new TokenBucket(publishRate, publishBurst)).take()) {
      throw new HubbubError(ErrorCode.RateLimited, `publish rate over ${publishRate}/s: slow down`);
    }
  }

  slowConsumer(why: string): HubbubError {
    this.close(CloseCode.SlowConsumer, `slow consumer: ${why}`);
    return new HubbubError(ErrorCode.Unavailable, `slow consumer: ${why}`);
  }

  private async handle(frame: ClientFrame): Promise<void> {
    // Pipelined requests answered at once must not hold the event loop for every other connection.
    const turn = pause();
    if (turn) await turn;
    if (this.closed) return;
    if (frame.t === 'auth') return this.auth(frame);
    if (frame.t === 'ping') return void this.send(frame.id === undefined ? { t: 'pong' } : { t: 'pong', id: frame.id });
    this.assertSignedIn();
    switch (frame.t) {
      case 'sub':
        return this.channels.subscribe(frame);
      case 'unsub':
        return this.unsubscribe(frame.channel, frame.id);
      case 'pres':
        return this.presence.change(frame);
      case 'presSub':
        return this.presence.watch(frame.channel, frame.id);
      case 'presUnsub':
        this.presence.unwatch(frame.channel);
        return void this.send({ t: 'ack', id: frame.id });
      case 'hist':
        return this.channels.history(frame);
      case 'fetch':
        return this.channels.fetch(frame);
      case 'tsub':
        return this.topics.subscribe(frame);
      case 'tunsub':
        return this.topics.unsubscribe(frame.sid, frame.id);
      case 'dm':
        return this.topics.directMessage(frame);
    }
  }

  /** A publish, checked as `handle` checks every request, begun (see RequestQueue.pushPipelined). */
  private beginPublish(frame: PublishFrame): Promise<() => void> {
    if (this.closed) return Promise.resolve(() => {});
    this.assertSignedIn();
    return this.channels.beginPublish(frame);
  }

  /** What every request but `auth` and `ping` needs. */
  private assertSignedIn(): void {
    if (!this.authed) throw new HubbubError(ErrorCode.BadAuth, 'send an auth frame first');
    if (this.expiry.expired) throw new HubbubError(ErrorCode.AuthExpired, 'token expired: send a fresh auth frame before anything else');
  }

  private async unsubscribe(channel: string, id: number): Promise<void> {
    this.channels.unsubscribe(channel);
    if (this.chosen!.policy.unsubscribeLeavesPresence) {
      this.presence.unwatch(channel);
      if (this.presence.isPresent(channel)) await this.presence.leave(channel);
    }
    this.send({ t: 'ack', id });
  }

  private async auth(frame: AuthFrame): Promise<void> {
    let identity: Identity;
    try {
      identity = await this.ctx.authenticate(frame, this.address);
    } catch (err) {
      // A refused first auth ends the connection (after saying why): the client's next step is a new
      // token, not another frame here. A refused renewal keeps the connection until its token runs out.
      if (!this.authed && !this.closed) this.refuse(err);
      throw err;
    }
    // The socket may have gone while the credentials were checked: take nothing over, hold nothing.
    if (this.closed) return;
    if (this.authed) {
      // Renewal on a live connection: the same client of the same app, with a later expiry.
      if (identity.app !== this.authed.app || identity.clientId !== this.authed.clientId) {
        throw new HubbubError(ErrorCode.BadAuth, 'a renewed token must be for the same app and client id');
      }
      this.authed = identity;
      await this.dropWhatIsNoLongerAllowed();
    } else if (!(await this.open(frame, identity))) {
      return;
    }
    this.authed = identity;
    this.expiry.arm(identity.expiresAt);
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

  /** The first auth succeeded: take a place, a connection id, what a resumed id left, and an inbox. */
  private async open(frame: AuthFrame, identity: Identity): Promise<boolean> {
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    // Refused for a full server: nothing is taken over or announced; the transport closes it.
    if (this.wire.authenticated?.(identity.app) === false) {
      this.dispose();
      return false;
    }
    const { policy } = this.chosen!;
    const resume = frame.resumeConnectionId;
    const ids = this.ctx.connectionIds ?? processConnectionIds;
    this.connectionId = this.ctx.sessions.connectionIdFor(resume, identity, this.chosen!, ids);
    if (policy.resumesPresence && resume !== undefined && !ids.fromThisProcess(resume) && !this.ctx.engine.serialsOutliveProcess) {
      this.channels.markCursorsStale();
    }
    this.presence.adopt(this.ctx.sessions.unpark(this.connectionId));
    this.echo = frame.echo !== false;
    this.ctx.sessions.add(this);
    if (policy.directMessages && !(await this.topics.openInbox(identity))) return false;
    this.ctx.notify?.(identity.app, 'client.connected', { clientId: identity.clientId, connectionId: this.connectionId });
    return true;
  }

  /**
   * A renewed token may grant less than the one before: every subscription, presence watch, presence
   * membership and topic it no longer allows ends, each with an `err` frame (40301) naming its channel.
   */
  private async dropWhatIsNoLongerAllowed(): Promise<void> {
    const cap = this.authed!.capability;
    const refuse = (channel: string, what: string) =>
      this.send({ t: 'err', code: ErrorCode.Capability, channel, message: `the renewed token no longer allows ${what} on ${JSON.stringify(channel)}` });
    for (const channel of this.channels.narrow(cap)) refuse(channel, 'subscribe');
    for (const [channel, what] of await this.presence.narrow(cap)) refuse(channel, what);
    for (const topic of this.topics.narrow(cap)) refuse(topic, 'subscribe (topic)');
  }

  /** Called by the registry once the token's expiry is within its horizon. */
  armExpiryTimer(): void {
    this.expiry.armTimer(this.authed?.expiresAt);
  }

  /** Close after the error frame for a refused first auth has gone out, with the close code of its class. */
  private refuse(err: unknown): void {
    const expired = err instanceof HubbubError && err.code === ErrorCode.AuthExpired;
    const code = expired ? CloseCode.AuthExpired : CloseCode.AuthRefused;
    this.requests.then(() => this.close(code, expired ? 'token expired' : 'credentials refused'));
  }

  /** Answer a failed frame with an error frame; the connection stays up. */
  private fail(err: unknown, id: number | undefined): void {
    const known = err instanceof HubbubError;
    const code = known ? err.code : ErrorCode.Server;
    const message = known ? err.message : 'internal server error';
    this.ctx.stats?.error(code, message);
    this.send(id === undefined ? { t: 'err', code, message } : { t: 'err', id, code, message });
    if (!known) (this.ctx.log ?? processLog).error({ err }, 'a frame failed');
  }
}

function requestIdOf(frame: ClientFrame): number | undefined {
  return 'id' in frame ? frame.id : undefined;
}
