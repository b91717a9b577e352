import { REDIS_DELIVERY_WAIT_MS } from '../core/defaults.js';
import type { EngineEvents, StoredMessage } from '../core/engine.js';
import type { Log } from '../core/log.js';
import { answeredWithin, type RedisSubscriber } from './redis-clients.js';
import type { RedisHistory } from './redis-history.js';
import type { RedisKeys } from './redis-keys.js';
import { decodePresenceChange } from './redis-presence-wire.js';

interface ListenState {
  channelKey: string;
  lastSeq: number;
  epoch?: string;
  /**
   * Work on this channel that waits for Redis (the first position, a gap or catch-up fetched from
   * history), with the deliveries that arrived meanwhile queued behind it, in serial order.
   */
  chain: Promise<void>;
  /** Links of `chain` not yet run: while there are any, a message joins the chain instead of going out at once. */
  waiting: number;
  ready: Promise<void>;
  /** This node's publishes whose answers wait for their message to be delivered here (see `delivered`). */
  waiters?: Waiter[];
  waitersTimer?: NodeJS.Timeout;
}

/** A publish of this node's waiting for its message: a stored one by its serial, an ephemeral one (no serial) by its body. */
interface Waiter {
  seq?: number;
  body?: string;
  deadline: number;
  resolve(): void;
}

/**
 * Fan-out to this node: the channels it listens to, subscribed on the subscriber link (one delivery per
 * node), delivered to the engine's events in serial order. A jump in serials, or the link coming back,
 * means messages this node missed: they are fetched from history first.
 */
export class RedisListener {
  /** Channels listened to, with the last serial delivered here: a jump means messages to fetch. */
  private readonly listening = new Map<string, ListenState>();
  /** The same, by pub/sub channel: what each message is looked up by. */
  private readonly byPubsub = new Map<string, ListenState>();
  private events?: EngineEvents;

  constructor(
    private readonly sub: RedisSubscriber,
    private readonly keys: RedisKeys,
    private readonly history: RedisHistory,
    private readonly log: Log,
    /** How long a subscribe on the subscriber link may take before the listen goes on without it (--redis-command-timeout). */
    private readonly subscribeTimeoutMs: number,
  ) {}

  /** Deliver what the subscriber link receives to `events` from now on. */
  start(events: EngineEvents): void {
    this.events = events;
    this.sub.onMessage((channel, payload) => this.onPubSub(channel, payload));
  }

  /** Resolves once this node receives the channel's messages, so a subscriber can then take its cursor. */
  listen(channelKey: string, connected: Promise<void> | undefined): Promise<void> {
    const existing = this.listening.get(channelKey);
    if (existing) return existing.ready;
    const pubsub = this.keys.channel(channelKey).pubsub;
    const state: ListenState = { channelKey, lastSeq: 0, chain: Promise.resolve(), waiting: 1, ready: Promise.resolve() };
    this.listening.set(channelKey, state);
    this.byPubsub.set(pubsub, state);
    // Subscribe first, then read the position: anything published after that read arrives by pub/sub,
    // and a later jump in serials is recognised as a gap to fetch.
    state.ready = (connected ?? Promise.resolve())
      // A stalled Redis must not hold a subscribe (or an auth) for as long as it lasts: the subscribe,
      // once sent, takes effect when Redis goes on; what is published meanwhile cannot be stored.
      .then(() => answeredWithin(this.sub.subscribe([pubsub]), this.subscribeTimeoutMs))
      .then(() => this.history.position(channelKey))
      .then((p) => {
        state.lastSeq = p.seq;
        state.epoch = p.epoch;
        this.releaseWaiters(state);
      })
      .catch((err) => this.log.debug({ err, channelKey }, 'listen incomplete (Redis did not answer): the subscriber link subscribes again when it reconnects'))
      .finally(() => state.waiting--);
    state.chain = state.ready;
    return state.ready;
  }

  /**
   * Resolves once this node has delivered the message this node published to its subscribers: a
   * stored message by its serial (delivered once every serial through it is), an ephemeral one by the
   * body it was published with; or after REDIS_DELIVERY_WAIT_MS should that message not come.
   * Undefined when there is nothing to wait for (the channel is not listened to here, or its message
   * is already delivered).
   */
  delivered(channelKey: string, seq: number | undefined, body: string): Promise<void> | undefined {
    const state = this.listening.get(channelKey);
    if (state === undefined || (seq !== undefined && state.lastSeq >= seq)) return undefined;
    return new Promise<void>((resolve) => {
      const deadline = performance.now() + REDIS_DELIVERY_WAIT_MS;
      (state.waiters ??= []).push(seq !== undefined ? { seq, deadline, resolve } : { body, deadline, resolve });
      state.waitersTimer ??= setTimeout(() => this.expireWaiters(state), REDIS_DELIVERY_WAIT_MS);
    });
  }

  /** Answer the waiters whose stored message has been delivered (all of them once the channel is not listened to). */
  private releaseWaiters(state: ListenState, all = false): void {
    this.answerWaiters(state, (w) => all || (w.seq !== undefined && w.seq <= state.lastSeq));
  }

  /** Answer the waiters whose message did not come in time. */
  private expireWaiters(state: ListenState): void {
    state.waitersTimer = undefined;
    const now = performance.now();
    this.answerWaiters(state, (w) => w.deadline <= now + 1);
  }

  private answerWaiters(state: ListenState, done: (w: Waiter) => boolean): void {
    const left: Waiter[] = [];
    for (const w of state.waiters ?? []) {
      if (done(w)) w.resolve();
      else left.push(w);
    }
    state.waiters = left.length > 0 ? left : undefined;
    if (state.waiters === undefined) {
      clearTimeout(state.waitersTimer);
      state.waitersTimer = undefined;
    } else {
      state.waitersTimer ??= setTimeout(() => this.expireWaiters(state), Math.max(1, left[0]!.deadline - performance.now()));
    }
  }

  unlisten(channelKey: string): void {
    const state = this.listening.get(channelKey);
    if (state === undefined) return;
    this.releaseWaiters(state, true);
    this.listening.delete(channelKey);
    const pubsub = this.keys.channel(channelKey).pubsub;
    this.byPubsub.delete(pubsub);
    void this.sub
      .unsubscribe(pubsub)
      .catch((err) => this.log.debug({ err, channelKey }, 'unsubscribe failed (Redis did not answer): what still arrives for the channel is dropped here'));
  }

  /** After the subscriber link came back: subscribe again, and fetch what was published while it was away. */
  async resubscribe(): Promise<void> {
    // Subscriptions that failed while Redis was away are made again here (the client covers the rest).
    const keys = [...this.listening.keys()].map((ck) => this.keys.channel(ck).pubsub);
    await this.sub.subscribe(keys).catch((err) => this.log.debug({ err }, 'subscribing again failed (Redis did not answer): the next reconnect of the subscriber link retries'));
    for (const state of this.listening.values()) this.enqueue(state, () => this.catchUp(state.channelKey, state));
  }

  /** Run `work` on the channel after what is queued there; messages arriving meanwhile wait behind it. */
  private enqueue(state: ListenState, work: () => Promise<void> | void): void {
    state.waiting++;
    state.chain = state.chain
      .then(work)
      .catch((err) => this.deliveryFailed(state, err))
      .finally(() => state.waiting--);
  }

  private deliveryFailed(state: ListenState, err: unknown): void {
    this.log.warn({ err, channelKey: state.channelKey }, 'delivering a message from Redis failed: the channel goes on with the next one');
  }

  private onPubSub(pubsubChannel: string, payload: string): void {
    // What was on its way when this node stopped listening is not wanted here.
    const state = this.byPubsub.get(pubsubChannel);
    if (state === undefined) return;
    if (payload.charCodeAt(0) === 112 /* p */) {
      this.events?.presence(state.channelKey, decodePresenceChange(payload.slice(1)));
      return;
    }
    // One parse per message on this node; the object is what fan-out encodes for every subscriber.
    const body = payload.slice(1);
    const message = JSON.parse(body) as StoredMessage;
    // The usual case: nothing waits for Redis and the serial is the next one, so it goes out at once,
    // in the turn it arrived in, without a promise.
    if (state.waiting === 0 && (message.seq === undefined || message.seq <= state.lastSeq + 1 || state.lastSeq === 0)) {
      try {
        this.deliverNow(state, message, body);
      } catch (err) {
        // Thrown back into the Redis client it would break its reading of the link for every channel.
        this.deliveryFailed(state, err);
      }
      return;
    }
    // Keep delivery in serial order when a gap must first be fetched from history, or while earlier work waits.
    this.enqueue(state, () => this.deliverInOrder(state, message, body));
  }

  /** A message that needs no fetch first: delivered unless already delivered. */
  private deliverNow(state: ListenState, message: StoredMessage, body: string): void {
    if (message.seq === undefined) {
      this.events?.message(state.channelKey, message);
      if (state.waiters) this.answerWaiters(state, (w) => w.body === body);
      return;
    }
    if (message.seq <= state.lastSeq) return;
    state.lastSeq = message.seq;
    this.events?.message(state.channelKey, message);
    if (state.waiters) this.releaseWaiters(state);
  }

  private async deliverInOrder(state: ListenState, message: StoredMessage, body: string): Promise<void> {
    if (message.seq !== undefined && message.seq > state.lastSeq + 1 && state.lastSeq > 0) await this.fillGap(state.channelKey, state, message.seq - 1);
    this.deliverNow(state, message, body);
  }

  /** Deliver, from history, what this node missed on a channel (e.g. while its Redis link was down). */
  private async fillGap(channelKey: string, state: ListenState, upTo?: number): Promise<void> {
    const end = upTo === undefined ? '+' : `${upTo}-0`;
    const missed = await this.history.read(channelKey, `${state.lastSeq + 1}-0`, end).catch(() => []);
    for (const m of missed) {
      if (m.seq! <= state.lastSeq) continue;
      state.lastSeq = m.seq!;
      this.events?.message(channelKey, m);
    }
    if (state.waiters) this.releaseWaiters(state);
  }

  /** Fetch what was published while the subscriber link was away. */
  private async catchUp(channelKey: string, state: ListenState): Promise<void> {
    const pos = await this.history.position(channelKey).catch((err) => {
      this.log.debug({ err, channelKey }, 'catch-up skipped (Redis did not answer): the gap is fetched when the next message shows it');
      return undefined;
    });
    if (!pos) return;
    if (state.epoch !== undefined && pos.epoch !== state.epoch) {
      // The stream was reset (Redis lost its data): start over from what it holds now.
      state.lastSeq = 0;
    }
    state.epoch = pos.epoch;
    await this.fillGap(channelKey, state);
  }
}
