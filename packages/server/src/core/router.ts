import type { Engine, EngineEvents, PresenceChange, StoredMessage } from './engine.js';
import { Outbound, channelOf, eventFrame, messageFrame } from './outbound.js';
import { clientView, clientViewFrame, connectionViewFrame } from './presence-views.js';

/** What the router needs of a connection. */
export interface Peer {
  readonly connectionId: string;
  /** False when the connection asked not to receive its own publishes. */
  readonly echo: boolean;
  /** How it sees presence (its dialect's `presenceView`); by client id when unset. */
  readonly presenceView?: 'client' | 'connection';
  deliver(frame: Outbound): void;
}

/**
 * One subscription of one peer to one channel. While `pending` is set the subscription is
 * catching up on history, and live messages wait there so none is delivered out of order.
 */
export interface Subscription {
  readonly peer: Peer;
  pending?: StoredMessage[];
  /** More than `MAX_PENDING` messages arrived while catching up: the subscriber is too slow to keep. */
  overflowed?: boolean;
  /** Platform-event subscriptions: deliver an `evt` frame, and only for messages that pass. */
  accepts?(message: StoredMessage): boolean;
  /** The last serial sent on this subscription, so a repeated resume never sends a message twice. */
  lastSeq?: number;
  /**
   * A catch-up read history up to this serial after the engine started listening; the engine may
   * still deliver those messages live (it reads its own position separately), so they are skipped
   * until a later serial arrives. Only messages stored before the catch-up (by `replayedAt`) are
   * skipped, so the first serials of a stream reset after it still get through.
   */
  replayedThrough?: number;
  replayedAt?: number;
}

/**
 * End a subscription's catch-up at `lastSent`, the last serial it sent: what waited meanwhile and is
 * past it goes to `send`, in order, and the router skips what the catch-up already covered. False when
 * too much arrived meanwhile (the subscriber is too slow to keep: cut it).
 */
export function goLive(sub: Subscription, lastSent: number, send: (message: StoredMessage) => void): boolean {
  const pending = sub.pending ?? [];
  sub.pending = undefined;
  if (sub.overflowed) return false;
  for (const m of pending) if (m.seq === undefined || m.seq > lastSent) send(m);
  sub.replayedThrough = lastSent;
  sub.replayedAt = Date.now();
  return true;
}

/** Live messages kept for one subscription while it catches up on history; past it, it is cut. */
const MAX_PENDING = 10_000;

/**
 * This node's local subscribers, and fan-out of what the engine delivers to them. The node
 * listens to a channel on the engine only while it has local subscribers there.
 */
export class Router implements EngineEvents {
  private readonly messageSubs = new Map<string, Set<Subscription>>();
  private readonly presenceSubs = new Map<string, Set<Peer>>();
  /** Extra listeners (ChannelHub, createRealtime) that see every message and presence change. */
  private readonly taps = new Set<EngineEvents>();

  /** Told when a channel gets its first local subscriber and when it loses its last. */
  onOccupancy?: (channelKey: string, occupied: boolean) => void;

  constructor(private readonly engine: Engine) {}

  /** Resolves once the engine delivers the channel here. */
  subscribe(channelKey: string, sub: Subscription): Promise<void> | void {
    const ready = this.engine.listen(channelKey);
    let subs = this.messageSubs.get(channelKey);
    if (!subs) {
      this.messageSubs.set(channelKey, (subs = new Set()));
      if (!sub.accepts) this.onOccupancy?.(channelKey, true);
    }
    subs.add(sub);
    return ready;
  }

  unsubscribe(channelKey: string, sub: Subscription): void {
    const subs = this.messageSubs.get(channelKey);
    if (!subs?.delete(sub)) return;
    if (subs.size === 0) {
      this.messageSubs.delete(channelKey);
      if (!sub.accepts) this.onOccupancy?.(channelKey, false);
    }
    this.release(channelKey);
  }

  subscribePresence(channelKey: string, peer: Peer): Promise<void> | void {
    const ready = this.engine.listen(channelKey);
    let peers = this.presenceSubs.get(channelKey);
    if (!peers) this.presenceSubs.set(channelKey, (peers = new Set()));
    peers.add(peer);
    return ready;
  }

  unsubscribePresence(channelKey: string, peer: Peer): void {
    const peers = this.presenceSubs.get(channelKey);
    if (!peers?.delete(peer)) return;
    if (peers.size === 0) this.presenceSubs.delete(channelKey);
    this.release(channelKey);
  }

  /** Listen to one channel key on behalf of something that is not a peer. */
  tap(listener: EngineEvents): () => void {
    this.taps.add(listener);
    return () => this.taps.delete(listener);
  }

  subscriberCount(channelKey: string): number {
    return this.messageSubs.get(channelKey)?.size ?? 0;
  }

  /** Channel keys with local message subscribers (platform keys too), for HTTP APIs that list occupied channels. */
  subscribedKeys(): IterableIterator<string> {
    return this.messageSubs.keys();
  }

  /** Channels with local subscribers; platform keys (topics, direct-message inboxes) are not channels. */
  get channelCount(): number {
    const keys = new Set([...this.messageSubs.keys(), ...this.presenceSubs.keys()]);
    let n = 0;
    for (const key of keys) if (!key.includes('/@')) n++;
    return n;
  }

  message(channelKey: string, message: StoredMessage): void {
    for (const tap of this.taps) tap.message(channelKey, message);
    const subs = this.messageSubs.get(channelKey);
    if (!subs) return;
    // Each shape is encoded once, for all the subscribers that get it.
    let out: Outbound | undefined;
    let evt: Outbound | undefined;
    const from = message.connectionId;
    for (const sub of subs) {
      if (sub.replayedThrough !== undefined && message.seq !== undefined) {
        if (message.seq <= sub.replayedThrough && message.timestamp <= sub.replayedAt!) continue;
        sub.replayedThrough = undefined;
      }
      if (sub.pending) {
        if (sub.pending.length < MAX_PENDING) sub.pending.push(message);
        else sub.overflowed = true;
      }
      else if (sub.accepts) {
        if (sub.accepts(message)) sub.peer.deliver((evt ??= new Outbound(eventFrame(message))));
      } else if (sub.peer.echo || sub.peer.connectionId !== from) {
        sub.peer.deliver((out ??= new Outbound(messageFrame(channelOf(channelKey), message))));
        if (message.seq !== undefined) sub.lastSeq = message.seq;
      }
    }
  }

  presence(channelKey: string, change: PresenceChange): void {
    for (const tap of this.taps) tap.presence(channelKey, change);
    const peers = this.presenceSubs.get(channelKey);
    if (!peers) return;
    // The engine reports the connection's hold; watchers by client id see what it derives to.
    const seen = clientView(change.shown);
    let byClient: Outbound | undefined;
    let byConnection: Outbound | undefined;
    for (const peer of peers) {
      if (peer.presenceView === 'connection') {
        if (change.hold) peer.deliver((byConnection ??= new Outbound(connectionViewFrame(channelOf(channelKey), change))));
      } else if (seen) {
        peer.deliver((byClient ??= new Outbound(clientViewFrame(channelOf(channelKey), { ...seen, timestamp: change.timestamp, pseq: change.pseq }))));
      }
    }
  }

  /** The engine is told when the last local interest in a channel goes. */
  private release(channelKey: string): void {
    if (!this.messageSubs.has(channelKey) && !this.presenceSubs.has(channelKey)) this.engine.unlisten(channelKey);
  }
}
