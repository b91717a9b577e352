import { ErrorCode, HubbubError, allows, assertAllowed, type Capability, type PresenceFrame, type ServerFrame } from '@hubbub/protocol';
import { processLog } from './log.js';
import { channelKeyOf } from './outbound.js';
import { clientOutcome, presentFrame, type ClientOutcome } from './presence-views.js';
import { TokenBucket } from './rate-limit.js';
import type { SessionScope } from './session-scope.js';

/**
 * One connection's presence: the channels it is present on (its holds) and the channels whose
 * presence it watches, each seen the way its dialect's `presenceView` says.
 */
export class SessionPresence {
  // Made on first use, like the token bucket: most connections never need them, and an idle
  // connection should cost little more than its socket.
  private watching?: Set<string>;
  private held?: Set<string>;
  private bucket?: TokenBucket;

  constructor(private readonly s: SessionScope) {}

  /** Presence watches, which count against the subscription bound. */
  get watchCount(): number {
    return this.watching?.size ?? 0;
  }

  /** Channels it is present on. */
  get heldChannels(): string[] {
    return [...(this.held ?? [])];
  }

  /** A resumed connection is still present on these (kept for it while it was away). */
  adopt(channels: string[]): void {
    for (const channel of channels) (this.held ??= new Set()).add(channel);
  }

  isPresent(channel: string): boolean {
    return this.held?.has(channel) ?? false;
  }

  async change(frame: PresenceFrame): Promise<void> {
    const { s } = this;
    const { capability, clientId, app } = s.identity;
    assertAllowed(capability, frame.channel, 'presence');
    if (frame.action === 'leave') return void s.send(presenceAck(frame.id, await this.leave(frame.channel)));
    const limits = s.ctx.limits;
    const size = (frame.data === undefined ? 0 : Buffer.byteLength(JSON.stringify(frame.data))) + Buffer.byteLength(frame.encoding ?? '');
    if (size > limits.maxPresenceBytes) {
      throw new HubbubError(ErrorCode.TooLarge, `presence data and encoding are ${size} bytes; the limit is ${limits.maxPresenceBytes}`);
    }
    if (!this.held?.has(frame.channel) && (this.held?.size ?? 0) >= limits.maxPresenceChannels) {
      throw new HubbubError(ErrorCode.RateLimited, `present on at most ${limits.maxPresenceChannels} channels per connection`);
    }
    if (!(this.bucket ??= new TokenBucket(limits.presenceRate, limits.presenceBurst)).take()) {
      throw new HubbubError(ErrorCode.RateLimited, `presence changes over ${limits.presenceRate}/s: slow down`);
    }
    (this.held ??= new Set()).add(frame.channel);
    const outcome = clientOutcome(
      await s.ctx.engine.presenceEnter(s.key(frame.channel), {
        clientId,
        connectionId: s.connectionId,
        ...(frame.data !== undefined ? { data: frame.data } : {}),
        ...(frame.encoding !== undefined ? { encoding: frame.encoding } : {}),
      }),
    );
    if (outcome.action === 'enter') s.ctx.notify?.(app, 'presence.enter', { channel: frame.channel, clientId, data: frame.data });
    s.send(presenceAck(frame.id, outcome));
  }

  async leave(channel: string): Promise<ClientOutcome> {
    const { s } = this;
    const { app, clientId } = s.identity;
    this.held?.delete(channel);
    const outcome = clientOutcome(await s.ctx.engine.presenceLeave(s.key(channel), clientId, s.connectionId));
    if (outcome.action === 'leave') s.ctx.notify?.(app, 'presence.leave', { channel, clientId });
    return outcome;
  }

  async watch(channel: string, id: number): Promise<void> {
    const { s } = this;
    assertAllowed(s.identity.capability, channel, 'subscribe');
    const key = s.key(channel);
    if (!this.watching?.has(channel)) {
      s.assertSubscriptionRoom();
      (this.watching ??= new Set()).add(channel);
      await s.ctx.router.subscribePresence(key, s);
    }
    if (s.dialect.policy.presenceView === 'client') {
      const { members, pseq } = await s.ctx.engine.presenceSync(key);
      return void s.send({ t: 'ack', id, members, pseq });
    }
    // Seen by connection, the ack has no member list: the snapshot (a member per connection) follows it as enters.
    const holders = await s.ctx.engine.presenceSnapshot(key);
    s.send({ t: 'ack', id });
    for (const holder of holders) s.send(presentFrame(channel, holder));
  }

  /** Stop watching; true when it was watched. */
  unwatch(channel: string): boolean {
    if (!this.watching?.delete(channel)) return false;
    this.s.ctx.router.unsubscribePresence(this.s.key(channel), this.s);
    return true;
  }

  /**
   * After a renewal that grants less: watches and memberships no longer allowed end. Returns what
   * ended, as [channel, what] pairs for the refusals.
   */
  async narrow(capability: Capability | undefined): Promise<Array<[string, string]>> {
    const ended: Array<[string, string]> = [];
    for (const channel of [...(this.watching ?? [])]) {
      if (allows(capability, channel, 'subscribe')) continue;
      this.unwatch(channel);
      ended.push([channel, 'presence (watching)']);
    }
    for (const channel of [...(this.held ?? [])]) {
      if (allows(capability, channel, 'presence')) continue;
      await this.leave(channel);
      ended.push([channel, 'presence']);
    }
    return ended;
  }

  /**
   * The connection went: stop watching, and end its memberships, or, after an `abrupt` drop of a
   * dialect that resumes presence, keep them `presenceResumeMs` for the client to resume.
   */
  release(app: string, clientId: string, abrupt: boolean): void {
    const { s } = this;
    for (const channel of this.watching ?? []) s.ctx.router.unsubscribePresence(channelKeyOf(app, channel), s);
    const held = this.heldChannels;
    const leave = () => {
      for (const channel of held) this.leave(channel).catch((err) => (s.ctx.log ?? processLog).error({ err, channel }, 'presence leave after a disconnect failed'));
    };
    const keepFor = s.ctx.limits.presenceResumeMs;
    if (abrupt && s.dialect.policy.resumesPresence && held.length > 0 && keepFor > 0) s.ctx.sessions.park(s.connectionId, app, clientId, held, keepFor, leave);
    else leave();
  }
}

/** A presence ack: the change's serial, and what watchers by client id saw, so the SDK can apply its own change. */
function presenceAck(id: number, { action, pseq }: ClientOutcome): ServerFrame {
  return action ? { t: 'ack', id, pseq, action } : { t: 'ack', id, pseq };
}
