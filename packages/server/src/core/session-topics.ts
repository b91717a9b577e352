import { allows, assertAllowed, matchesFilter, type Capability, type DirectMessageFrame, type RealtimeEvent, type TopicFilter, type TopicSubscribeFrame } from '@hubbub/protocol';
import type { StoredMessage } from './engine.js';
import type { Identity } from './identity.js';
import { directKey, newEventId, topicKey } from './events.js';
import { eventFrame } from './outbound.js';
import type { Subscription } from './router.js';
import type { SessionScope } from './session-scope.js';
import { REPLAY_DRAIN_TIMEOUT_MS } from './defaults.js';
import { recoveryPages } from './recovery-pages.js';

/** Platform topics: one engine subscription per topic, holding every filter of this connection. */
interface TopicEntry {
  sub: Subscription;
  filters: Map<string, TopicFilter | undefined>;
}

/** The direct-message inbox takes every message sent to the client id. */
const acceptAll = () => true;

/**
 * One connection's platform side: topic subscriptions with filters (database changes, document
 * events), resumable from a serial, and direct messages to and from client ids.
 */
export class SessionTopics {
  private topics?: Map<string, TopicEntry>;
  private topicOfSid?: Map<string, string>;
  private inbox?: Subscription;

  constructor(private readonly s: SessionScope) {}

  /** Topic subscription ids, which count against the subscription bound (one topic may hold several). */
  get count(): number {
    return this.topicOfSid?.size ?? 0;
  }

  /**
   * Direct messages to this client id reach every one of its connections, on any node. False when
   * the connection closed while the inbox was being opened.
   */
  async openInbox({ app, clientId }: Identity): Promise<boolean> {
    const { s } = this;
    const key = directKey(app, clientId);
    this.inbox = { peer: s, accepts: acceptAll };
    await s.ctx.router.subscribe(key, this.inbox);
    if (!s.isClosed) return true;
    s.ctx.router.unsubscribe(key, this.inbox);
    return false;
  }

  async subscribe(frame: TopicSubscribeFrame): Promise<void> {
    const { s } = this;
    assertAllowed(s.identity.capability, frame.topic, 'subscribe');
    const previous = this.topicOfSid?.get(frame.sid);
    if (previous !== undefined && previous !== frame.topic) this.drop(frame.sid);
    const key = topicKey(s.identity.app, frame.topic);
    // A new subscription id takes a place, whether or not its topic is already watched.
    if (!this.topicOfSid?.has(frame.sid)) s.assertSubscriptionRoom();
    let entry = this.topics?.get(frame.topic);
    const created = !entry;
    if (!entry) {
      const filters = new Map<string, TopicFilter | undefined>();
      const sub: Subscription = {
        peer: s,
        pending: [],
        accepts: (m) => {
          const payload = (m.data as RealtimeEvent).payload;
          for (const filter of filters.values()) if (matchesFilter(filter, payload)) return true;
          return false;
        },
      };
      entry = { sub, filters };
      (this.topics ??= new Map()).set(frame.topic, entry);
      await s.ctx.router.subscribe(key, sub);
    }
    entry.filters.set(frame.sid, frame.filter);
    (this.topicOfSid ??= new Map()).set(frame.sid, frame.topic);
    // Live events wait while this catch-up runs, also on a topic another subscription id already watches:
    // a catch-up read in pages would otherwise send what arrives between its pages twice, out of order.
    const holding = created || entry.sub.pending === undefined;
    entry.sub.pending ??= [];
    // Replay what the client missed (filtered), then what arrived meanwhile, then go live.
    let position: { seq: number; epoch: string } | undefined;
    let lastSent = 0;
    let replayed: number | undefined;
    const replay = (m: StoredMessage) => {
      if (matchesFilter(frame.filter, (m.data as RealtimeEvent).payload)) s.send(eventFrame(m));
    };
    try {
    if (frame.lastSerial !== undefined) {
      let first: { seq: number; epoch: string } | undefined;
      for await (const page of recoveryPages(s.ctx.engine, key, frame.lastSerial, frame.epoch, s.ctx.limits.maxReplayChunkBytes)) {
        first ??= page;
        for (const m of page.messages) replay(m);
        replayed = page.messages.at(-1)?.seq ?? replayed;
        position = { seq: page.seq, epoch: first.epoch };
        if (page.more && s.wire.drain && !(await s.wire.drain(REPLAY_DRAIN_TIMEOUT_MS))) throw s.slowConsumer('the catch-up was not read in time');
      }
      lastSent = replayed ?? Math.min(frame.lastSerial, first!.seq);
    } else {
      position = await s.ctx.engine.position(key);
      lastSent = position.seq;
    }
    } catch (err) {
      // Nothing of this subscription id stays (its place is free, a retry starts afresh); the topic's
      // other ids get what waited for them.
      this.drop(frame.sid);
      if (holding && this.topics?.get(frame.topic) === entry) this.goLive(entry, frame.filter, replayed ?? 0, false);
      throw err;
    }
    if (holding) this.goLive(entry, frame.filter, lastSent, created);
    s.send({ t: 'ack', id: frame.id, seq: position!.seq, epoch: position!.epoch });
  }

  unsubscribe(sid: string, id: number): void {
    this.drop(sid);
    this.s.send({ t: 'ack', id });
  }

  async directMessage(frame: DirectMessageFrame): Promise<void> {
    const { s } = this;
    const { app, clientId, capability } = s.identity;
    // A direct message is a publish to the recipient's inbox channel `direct.<clientId>`.
    assertAllowed(capability, `direct.${frame.to}`, 'publish');
    s.spendPublishToken();
    const event: RealtimeEvent = {
      id: newEventId(),
      topic: `direct.${frame.to}`,
      source: 'socket',
      type: frame.name,
      payload: frame.data ?? null,
      metadata: { timestamp: Date.now(), clientId },
    };
    await s.ctx.engine.publish(directKey(app, frame.to), { name: frame.name, data: event, messageId: event.id, clientId, ephemeral: true });
    s.send({ t: 'ack', id: frame.id });
  }

  /** After a renewal that grants less: the topics no longer allowed, dropped. */
  narrow(capability: Capability | undefined): string[] {
    const dropped: string[] = [];
    for (const [sid, topic] of [...(this.topicOfSid ?? [])]) {
      if (allows(capability, topic, 'subscribe')) continue;
      this.drop(sid);
      dropped.push(topic);
    }
    return dropped;
  }

  release(app: string, clientId: string): void {
    for (const [topic, { sub }] of this.topics ?? []) this.s.ctx.router.unsubscribe(topicKey(app, topic), sub);
    if (this.inbox) this.s.ctx.router.unsubscribe(directKey(app, clientId), this.inbox);
  }

  /** A catch-up ends: what waited and the catch-up did not send goes out, in order; then events flow live. */
  private goLive(entry: TopicEntry, filter: TopicFilter | undefined, lastSent: number, created: boolean): void {
    const pending = entry.sub.pending ?? [];
    entry.sub.pending = undefined;
    for (const m of pending) {
      const replayed = m.seq !== undefined && m.seq <= lastSent && matchesFilter(filter, (m.data as RealtimeEvent).payload);
      if (!replayed && entry.sub.accepts!(m)) this.s.send(eventFrame(m));
    }
    if (!created) return;
    entry.sub.replayedThrough = lastSent;
    entry.sub.replayedAt = Date.now();
  }

  private drop(sid: string): void {
    const topic = this.topicOfSid?.get(sid);
    if (topic === undefined) return;
    this.topicOfSid!.delete(sid);
    const entry = this.topics!.get(topic)!;
    entry.filters.delete(sid);
    if (entry.filters.size === 0) {
      this.topics!.delete(topic);
      this.s.ctx.router.unsubscribe(topicKey(this.s.identity.app, topic), entry.sub);
    }
  }
}
