import type { EngineEvents, StoredMessage } from '../core/engine.js';
import type { Log } from '../core/log.js';
import type { RedisSubscriber } from './redis-clients.js';
import type { RedisHistory } from './redis-history.js';
import type { RedisKeys } from './redis-keys.js';
import { decodePresenceChange } from './redis-presence-wire.js';

interface ListenState {
  lastSeq: number;
  epoch?: string;
  /** Deliveries of this channel run one after another, in serial order. */
  chain: Promise<void>;
  ready: Promise<void>;
}

/**
 * Fan-out to this node: the channels it listens to, subscribed on the subscriber link (one delivery per
 * node), delivered to the engine's events in serial order. A jump in serials, or the link coming back,
 * means messages this node missed: they are fetched from history first.
 */
export class RedisListener {
  /** Channels listened to, with the last serial delivered here: a jump means messages to fetch. */
  private readonly listening = new Map<string, ListenState>();
  private events?: EngineEvents;

  constructor(
    private readonly sub: RedisSubscriber,
    private readonly keys: RedisKeys,
    private readonly history: RedisHistory,
    private readonly log: Log,
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
    const state: ListenState = { lastSeq: 0, chain: Promise.resolve(), ready: Promise.resolve() };
    this.listening.set(channelKey, state);
    // Subscribe first, then read the position: anything published after that read arrives by pub/sub,
    // and a later jump in serials is recognised as a gap to fetch.
    state.ready = (connected ?? Promise.resolve())
      .then(() => this.sub.subscribe([this.keys.channel(channelKey).pubsub]))
      .then(() => this.history.position(channelKey))
      .then((p) => {
        state.lastSeq = p.seq;
        state.epoch = p.epoch;
      })
      .catch((err) => this.log.debug({ err, channelKey }, 'listen incomplete (Redis did not answer): the subscriber link subscribes again when it reconnects'));
    state.chain = state.ready;
    return state.ready;
  }

  unlisten(channelKey: string): void {
    if (!this.listening.delete(channelKey)) return;
    void this.sub
      .unsubscribe(this.keys.channel(channelKey).pubsub)
      .catch((err) => this.log.debug({ err, channelKey }, 'unsubscribe failed (Redis did not answer): what still arrives for the channel is dropped here'));
  }

  /** After the subscriber link came back: subscribe again, and fetch what was published while it was away. */
  async resubscribe(): Promise<void> {
    // Subscriptions that failed while Redis was away are made again here (the client covers the rest).
    const keys = [...this.listening.keys()].map((ck) => this.keys.channel(ck).pubsub);
    await this.sub.subscribe(keys).catch((err) => this.log.debug({ err }, 'subscribing again failed (Redis did not answer): the next reconnect of the subscriber link retries'));
    for (const [ck, state] of this.listening) {
      state.chain = state.chain.then(() => this.catchUp(ck, state));
    }
  }

  private onPubSub(pubsubChannel: string, payload: string): void {
    const channelKey = this.keys.channelKeyOf(pubsubChannel);
    // What was on its way when this node stopped listening is not wanted here.
    if (channelKey === undefined || !this.listening.has(channelKey)) return;
    if (payload[0] === 'p') {
      this.events?.presence(channelKey, decodePresenceChange(payload.slice(1)));
      return;
    }
    const message = JSON.parse(payload.slice(1)) as StoredMessage;
    const state = this.listening.get(channelKey)!;
    // Keep delivery in serial order even when a gap must first be fetched from history.
    state.chain = state.chain.then(() => this.deliverInOrder(channelKey, state, message));
  }

  private async deliverInOrder(channelKey: string, state: { lastSeq: number }, message: StoredMessage): Promise<void> {
    if (message.seq === undefined) return this.events?.message(channelKey, message);
    if (message.seq <= state.lastSeq) return;
    if (message.seq > state.lastSeq + 1 && state.lastSeq > 0) await this.fillGap(channelKey, state, message.seq - 1);
    state.lastSeq = message.seq;
    this.events?.message(channelKey, message);
  }

  /** Deliver, from history, what this node missed on a channel (e.g. while its Redis link was down). */
  private async fillGap(channelKey: string, state: { lastSeq: number }, upTo?: number): Promise<void> {
    const end = upTo === undefined ? '+' : `${upTo}-0`;
    const missed = await this.history.read(channelKey, `${state.lastSeq + 1}-0`, end).catch(() => []);
    for (const m of missed) {
      if (m.seq! <= state.lastSeq) continue;
      state.lastSeq = m.seq!;
      this.events?.message(channelKey, m);
    }
  }

  /** Fetch what was published while the subscriber link was away. */
  private async catchUp(channelKey: string, state: { lastSeq: number; epoch?: string }): Promise<void> {
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
