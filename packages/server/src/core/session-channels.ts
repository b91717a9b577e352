import { ErrorCode, HubbubError, allows, assertAllowed, type Capability, type FetchFrame, type HistoryFrame, type MessageFrame, type PublishFrame, type SubscribeFrame } from '@hubbub/protocol';
import { CloseCode } from './close-codes.js';
import { REPLAY_DRAIN_TIMEOUT_MS } from './defaults.js';
import type { PublishResult, Recovery, StoredMessage } from './engine.js';
import { channelKeyOf, messageFrame } from './outbound.js';
import { recoveryPages } from './recovery-pages.js';
import { goLive, type Subscription } from './router.js';
import type { SessionScope } from './session-scope.js';

type PublishAck = { t: 'ack'; id: number; seq?: number; duplicate?: boolean };

/**
 * One connection's channels: subscriptions with catch-up from a cursor, publishes, history pages
 * and fetches. Ordering: a subscription's live messages wait while it catches up, so the client
 * sees the stream in serial order, without a gap or a repeat.
 */
export class SessionChannels {
  /** Made on the first subscribe: most of an idle server's connections never make one. */
  private subscriptions?: Map<string, Subscription>;
  /** Cursors are from a process whose serials did not survive a restart (see `markCursorsStale`). */
  private staleCursors = false;
  private resynced?: Set<string>;

  constructor(private readonly s: SessionScope) {}

  get count(): number {
    return this.subscriptions?.size ?? 0;
  }

  /**
   * A client back from a server that has since restarted while serials did not survive it: its cursors
   * point into streams that no longer exist, so they are treated like a stale epoch (replay what is
   * kept, resumed false).
   */
  markCursorsStale(): void {
    this.staleCursors = true;
  }

  async subscribe(frame: SubscribeFrame): Promise<void> {
    const { s } = this;
    assertAllowed(s.identity.capability, frame.channel, 'subscribe');
    const key = s.key(frame.channel);
    const existing = this.subscriptions?.get(frame.channel);
    if (!existing) s.assertSubscriptionRoom();
    if (existing && frame.lastSerial === undefined) {
      const pos = await s.ctx.engine.position(key);
      return void s.send({ t: 'ack', id: frame.id, seq: pos.seq, epoch: pos.epoch });
    }
    const sub: Subscription = existing ?? { peer: s, pending: [] };
    sub.pending ??= [];
    if (!existing) {
      (this.subscriptions ??= new Map()).set(frame.channel, sub);
      await s.ctx.router.subscribe(key, sub);
    }
    try {
      let lastSent = 0;
      let ack: { seq: number; epoch: string; resumed?: boolean };
      if (frame.lastSerial !== undefined) {
        // A resume on a subscription this connection already has never repeats what it was sent.
        const from = Math.max(frame.lastSerial, existing?.lastSeq ?? 0);
        let first: Recovery | undefined;
        let last: Recovery | undefined;
        let lastReplayed: number | undefined;
        for await (const page of recoveryPages(s.ctx.engine, key, from, this.epochOf(frame.epoch, frame.channel), s.ctx.limits.maxReplayChunkBytes)) {
          first ??= page;
          last = page;
          await this.replay(frame.channel, page.messages, sub);
          lastReplayed = page.messages.at(-1)?.seq ?? lastReplayed;
          if (s.isClosed) break;
          // The next page is read once this one has mostly gone out.
          if (page.more && s.wire.drain && !(await s.wire.drain(REPLAY_DRAIN_TIMEOUT_MS))) throw s.slowConsumer('the catch-up was not read in time');
        }
        // Nothing replayed: the cursor stands, unless it belongs to a stream that was reset.
        lastSent = lastReplayed ?? Math.min(from, first!.seq);
        // A cursor past the end (forged, or from writes a failover lost) cannot be a clean resume.
        ack = { seq: last!.seq, epoch: first!.epoch, resumed: first!.resumed && frame.lastSerial <= last!.seq };
      } else {
        ack = await s.ctx.engine.position(key);
        lastSent = ack.seq;
      }
      if (!goLive(sub, lastSent, (m) => this.sendMessage(frame.channel, m, sub))) throw s.slowConsumer('too many messages arrived while the subscription caught up');
      s.send({ t: 'ack', id: frame.id, ...ack });
    } catch (err) {
      sub.pending = undefined;
      this.subscriptions?.delete(frame.channel);
      s.ctx.router.unsubscribe(key, sub);
      if (err instanceof HubbubError && err.code === ErrorCode.Bootstrap && s.dialect.policy.reconnectsWhenUnavailable) {
        // After the error frame (sent as this throw is answered, within this turn), not before it.
        setImmediate(() => s.wire.close(CloseCode.TryAgainLater, 'engine unavailable: reconnect and resume'));
      }
      throw err;
    }
  }

  /** Stop delivering the channel; true when there was a subscription. */
  unsubscribe(channel: string): boolean {
    const sub = this.subscriptions?.get(channel);
    if (!sub) return false;
    this.subscriptions?.delete(channel);
    this.s.ctx.router.unsubscribe(this.s.key(channel), sub);
    return true;
  }

  /**
   * A publish, checked and given to the engine at once (so a connection's publishes reach it in the
   * order they came, without waiting for each other's answers); resolves with what answers it, for the
   * session to send in its turn.
   */
  beginPublish(frame: PublishFrame): Promise<() => void> {
    const { s } = this;
    const { app, clientId, capability } = s.identity;
    assertAllowed(capability, frame.channel, 'publish');
    s.spendPublishToken();
    const key = s.key(frame.channel);
    const started = performance.now();
    // One fixed shape for every draft (no conditional spreads): cheaper to build and to read.
    const publishing = s.ctx.engine.publish(key, {
      name: frame.name,
      data: frame.data,
      messageId: frame.messageId,
      clientId,
      connectionId: s.connectionId,
      encoding: frame.encoding,
      messages: frame.messages,
      ephemeral: frame.ephemeral === true ? true : undefined,
    });
    return publishing.then((result) => {
      s.ctx.stats?.engineCall(performance.now() - started);
      return () => this.published(frame, key, app, clientId, result);
    });
  }

  private published(frame: PublishFrame, key: string, app: string, clientId: string, result: PublishResult): void {
    const { s } = this;
    if (!result.duplicate) {
      s.ctx.stats?.published(key, app);
      s.ctx.notify?.(app, 'message.published', {
        channel: frame.channel,
        name: frame.name,
        data: frame.data,
        ...(frame.messages ? { messages: frame.messages } : {}),
        messageId: frame.messageId,
        clientId,
        seq: result.seq,
      });
    }
    const ack: PublishAck = { t: 'ack', id: frame.id };
    if (result.seq !== undefined) ack.seq = result.seq;
    if (result.duplicate) ack.duplicate = true;
    s.send(ack);
  }

  async history(frame: HistoryFrame): Promise<void> {
    const { s } = this;
    assertAllowed(s.identity.capability, frame.channel, 'history');
    await this.readable();
    const { maxHistoryPage, maxReplayChunkBytes } = s.ctx.limits;
    const limit = Math.min(Math.max(frame.limit ?? 100, 1), maxHistoryPage);
    const direction = frame.direction ?? 'backwards';
    const page = await s.ctx.engine.history(s.key(frame.channel), { limit, before: frame.before, direction, maxBytes: maxReplayChunkBytes });
    const all = page.messages.map((m) => messageFrame(frame.channel, m));
    // One reply is one frame: past the replay chunk it is cut, keeping the end nearest the cursor,
    // and says `more` so the client pages on (backwards: from its oldest serial; forwards: its newest).
    const messages = withinBytes(all, maxReplayChunkBytes, direction === 'backwards');
    s.send({ t: 'histRes', id: frame.id, channel: frame.channel, messages, more: page.more || messages.length < all.length });
  }

  async fetch(frame: FetchFrame): Promise<void> {
    const { s } = this;
    assertAllowed(s.identity.capability, frame.channel, 'history');
    await this.readable();
    const recovery = await s.ctx.engine.recover(s.key(frame.channel), frame.fromSerial, this.epochOf(undefined, frame.channel), s.ctx.limits.maxReplayChunkBytes);
    // Oldest first and contiguous from the cursor: a cut reply is a shorter catch-up, and the client's
    // next gap (or fetch) takes it on from its last serial.
    const messages = withinBytes(recovery.messages.map((m) => messageFrame(frame.channel, m)), s.ctx.limits.maxReplayChunkBytes, false);
    s.send({ t: 'fetchRes', id: frame.id, channel: frame.channel, messages, resumed: recovery.resumed });
  }

  /** After a renewal that grants less: the channels no longer allowed, unsubscribed. */
  narrow(capability: Capability | undefined): string[] {
    const dropped: string[] = [];
    for (const channel of [...(this.subscriptions?.keys() ?? [])]) {
      if (allows(capability, channel, 'subscribe')) continue;
      this.unsubscribe(channel);
      dropped.push(channel);
    }
    return dropped;
  }

  release(app: string): void {
    for (const [channel, sub] of this.subscriptions ?? []) this.s.ctx.router.unsubscribe(channelKeyOf(app, channel), sub);
  }

  /**
   * The epoch a cursor claims; some clients send none, so a stale process is the only tell. The
   * first cursor per channel is from before the restart; after that resync they are this stream's.
   */
  private epochOf(claimed: string | undefined, channel: string): string | undefined {
    if (claimed !== undefined || !this.staleCursors || this.resynced?.has(channel)) return claimed;
    (this.resynced ??= new Set()).add(channel);
    return 'from-another-process';
  }

  private sendMessage(channel: string, m: StoredMessage, sub: Subscription): number {
    if (m.seq !== undefined) sub.lastSeq = Math.max(sub.lastSeq ?? 0, m.seq);
    if (!this.s.echo && m.connectionId === this.s.connectionId) return 0;
    return this.s.send(messageFrame(channel, m) satisfies MessageFrame);
  }

  /**
   * Send a catch-up in pieces of at most `maxReplayChunkBytes`, waiting for the socket to drain between
   * them: a replay obeys the unsent-bytes limit like live traffic, without being cut for it.
   */
  private async replay(channel: string, messages: StoredMessage[], sub: Subscription): Promise<void> {
    const { s } = this;
    let queued = 0;
    for (const m of messages) {
      queued += this.sendMessage(channel, m, sub);
      if (queued < s.ctx.limits.maxReplayChunkBytes) continue;
      queued = 0;
      if (s.wire.drain && !(await s.wire.drain(REPLAY_DRAIN_TIMEOUT_MS))) throw s.slowConsumer('the catch-up was not read in time');
      if (s.isClosed) return;
    }
  }

  /**
   * Before a reply that may be large: what is already queued for this client must have mostly gone out,
   * so pipelined reads cost one reply of memory at a time, not all of them at once.
   */
  private async readable(): Promise<void> {
    const { wire } = this.s;
    if (wire.drain && !(await wire.drain(REPLAY_DRAIN_TIMEOUT_MS))) throw this.s.slowConsumer('replies were not read in time');
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
