import {
  ErrorCode,
  HubbubError,
  type AckFrame,
  type HistoryResponseFrame,
  type MessageFrame,
  type ServerFrame,
} from '@hubbub/protocol';
import { Waiters } from './deferred.js';
import { Emitter } from './emitter.js';
import { Presence, type PresenceOwner } from './presence.js';

export type { PresenceMessage } from './presence.js';
export { Presence } from './presence.js';

/** A message as listeners see it. Batch members arrive as messages of their own. */
export interface Message {
  /** The publisher-assigned id (stable across resends). */
  id: string;
  channel: string;
  name: string;
  data: unknown;
  clientId?: string;
  /** Server time of publish, Unix ms. */
  timestamp: number;
  /** Position in the channel's stream; absent for ephemeral messages. */
  serial?: number;
  encoding?: string;
}

/**
 * `attaching` also covers a channel waiting for the connection to come back; `failed` is a refusal
 * (e.g. 40301): call `attach()` again to retry.
 */
export type ChannelState = 'initialized' | 'attaching' | 'attached' | 'detached' | 'failed';

export interface AttachedEvent {
  /** True when the stream may have missed messages (the resume cursor was out of the window). */
  discontinuity: boolean;
}

export interface PublishOptions {
  /** Live only: not kept in history, not replayed after a reconnect. */
  ephemeral?: boolean;
  /**
   * Your own id for the message (1-128 characters), for retries the SDK cannot make itself (after your
   * process restarted, from another connection): the server keeps one message per id within its dedup window.
   */
  messageId?: string;
}

/** What the server answered a publish. */
export interface PublishResult {
  messageId: string;
  /** Its position in the channel; absent for ephemeral messages. */
  serial?: number;
  /** The id was published before (within the dedup window): nothing new was stored or delivered. */
  duplicate: boolean;
}

export interface HistoryOptions {
  limit?: number;
  direction?: 'backwards' | 'forwards';
  /** Page backwards from this serial (exclusive). */
  before?: number;
}

/** Hooks a channel needs from the Realtime that owns it (its presence needs the rest). */
export interface ChannelOwner extends PresenceOwner {
  nextMessageId(): string;
}

export class Channel {
  state: ChannelState = 'initialized';
  /** Why the channel failed, when it did. */
  errorReason?: HubbubError;
  readonly presence: Presence;
  private readonly messages = new Emitter<Message>();
  private readonly lifecycle = new Emitter<AttachedEvent>();
  private readonly attached = new Waiters();
  /** The app wants messages: (re)attach whenever the connection is up. */
  private wanted = false;
  /** The connection generation a `sub` is in flight on, if any. */
  private attachingOn?: number;
  /** Resume cursor: the last serial seen, and the stream epoch it belongs to. */
  private lastSerial?: number;
  private epoch?: string;
  private deliveredWhileAttaching = false;

  constructor(
    readonly name: string,
    private readonly owner: ChannelOwner,
  ) {
    this.presence = new Presence(name, owner);
  }

  /** `on(fn)` for every message, `on(name, fn)` for one event name. Returns the unsubscribe function. */
  on(fn: (message: Message) => void): () => void;
  on(name: string, fn: (message: Message) => void): () => void;
  on(a: string | ((message: Message) => void), b?: (message: Message) => void): () => void {
    const off = typeof a === 'function' ? this.messages.on(undefined, a) : this.messages.on(a, b!);
    // This only starts the attach: a refusal shows in `state` and `errorReason` (a closed connection in its own
    // state) and rejects every attach() the app awaits, so no one is left without the reason.
    void this.attach().catch(() => {});
    return off;
  }

  off(name?: string, fn?: (message: Message) => void): void {
    this.messages.off(name, fn);
  }

  /** `onAttached(fn)` tells each (re)attach, with `discontinuity` when messages may be missing. */
  onAttached(fn: (event: AttachedEvent) => void): () => void {
    return this.lifecycle.on('attached', fn);
  }

  /**
   * Resolves once the server acknowledged the message; rejects with a coded HubbubError. `ephemeral`
   * messages (typing indicators, cursors) reach live subscribers only: no serial, no history, no replay.
   */
  async publish(name: string, data?: unknown, options: PublishOptions = {}): Promise<PublishResult> {
    if (typeof name !== 'string') throw new HubbubError(ErrorCode.BadFrame, 'publish needs an event name');
    const messageId = options.messageId ?? this.owner.nextMessageId();
    // Attaching is a side effect here (as in on()): its failure shows in `state` and `errorReason`; what the
    // caller awaits is the publish's own ack, below.
    void this.attach().catch(() => {});
    const ack = (await this.owner.conn.request(
      { t: 'pub', channel: this.name, name, data, messageId, ...(options.ephemeral ? { ephemeral: true } : {}) },
      { resend: true, queue: this.owner.queueMessages },
    )) as AckFrame;
    return { messageId, serial: ack.seq, duplicate: ack.duplicate === true };
  }

  /**
   * Start receiving messages; resolves once the server acknowledged the subscription. While the
   * connection is down it waits for it, and while the server cannot reach its engine (50001) it asks
   * again; it rejects when the server refuses otherwise or the connection fails.
   */
  attach(): Promise<void> {
    this.wanted = true;
    if (this.state === 'attached') return Promise.resolve();
    const conn = this.owner.conn;
    if (conn.state === 'closed' || conn.state === 'failed') {
      return Promise.reject(conn.errorReason ?? new HubbubError(ErrorCode.Unavailable, `connection is ${conn.state}`));
    }
    const done = this.attached.wait();
    this.state = 'attaching';
    this.errorReason = undefined;
    if (conn.state === 'connected' && this.attachingOn !== conn.generation) this.subscribe();
    return done;
  }

  async detach(): Promise<void> {
    this.wanted = false;
    this.attachingOn = undefined;
    this.state = 'detached';
    this.attached.reject(new HubbubError(ErrorCode.Unavailable, 'channel detached'));
    if (this.owner.conn.state === 'connected') await this.owner.conn.request({ t: 'unsub', channel: this.name }, { queue: false });
  }

  /** Recent messages, oldest first. */
  async history(options: HistoryOptions = {}): Promise<Message[]> {
    const reply = (await this.owner.conn.request({
      t: 'hist',
      channel: this.name,
      limit: options.limit,
      before: options.before,
      direction: options.direction,
    })) as HistoryResponseFrame;
    return reply.messages.flatMap(toMessages);
  }

  private subscribe(): void {
    const conn = this.owner.conn;
    const generation = conn.generation;
    this.attachingOn = generation;
    const resuming = this.lastSerial !== undefined;
    this.deliveredWhileAttaching = false;
    const body = { t: 'sub' as const, channel: this.name, ...(resuming ? { lastSerial: this.lastSerial, epoch: this.epoch } : {}) };
    // The ack is taken as it is read: messages read right behind it must see the channel attached.
    const onReply = (ack: ServerFrame) => this.subscribed(ack as AckFrame, generation, resuming);
    conn.request(body, { queue: false, onReply }).catch((err: HubbubError) => {
      if (this.attachingOn !== generation) return;
      this.attachingOn = undefined;
      // The socket went while waiting: the next `connected` attaches again.
      if (conn.generation !== generation || conn.state !== 'connected') return;
      // A 50001 (the node's engine out of reach for now, e.g. its Redis link coming back after a restart) is
      // asked again, cursor kept: failing would end the subscription for good, with no discontinuity told.
      if (conn.retriesUnavailable(err, generation, () => this.wanted && this.state === 'attaching' && this.attachingOn === undefined && this.subscribe())) return;
      this.state = 'failed';
      this.errorReason = err;
      this.attached.reject(err);
    });
  }

  private subscribed(ack: AckFrame, generation: number, resuming: boolean): void {
    if (this.attachingOn !== generation || !this.wanted) return;
    this.attachingOn = undefined;
    const restarted = !resuming || ack.resumed === false;
    if (ack.seq !== undefined) {
      // A new stream with nothing replayed starts from the server's position; otherwise never go back.
      this.lastSerial = restarted && !this.deliveredWhileAttaching ? ack.seq : Math.max(this.lastSerial ?? 0, ack.seq);
    }
    this.epoch = ack.epoch ?? this.epoch;
    this.state = 'attached';
    this.attached.resolve();
    this.lifecycle.emit('attached', { discontinuity: resuming && ack.resumed === false });
  }

  /** @internal The connection came (back) up: re-issue what this channel had. */
  reattach(): void {
    this.presence.reattach();
    if (this.wanted && this.state !== 'failed') {
      this.state = 'attaching';
      this.subscribe();
    }
  }

  /** @internal The connection dropped: a wanted channel waits to attach again. */
  suspend(): void {
    this.attachingOn = undefined;
    if (this.state === 'attached') this.state = 'attaching';
    this.presence.suspend();
  }

  /** @internal The connection failed or was closed: nothing will attach any more. */
  end(reason: HubbubError): void {
    this.attachingOn = undefined;
    if (this.state === 'attached' || this.state === 'attaching') this.state = 'detached';
    this.attached.reject(reason);
    this.presence.end(reason);
  }

  /** @internal The server ended this channel's subscription (e.g. a renewed token no longer allows it). */
  refused(reason: HubbubError): void {
    this.attachingOn = undefined;
    this.state = 'failed';
    this.errorReason = reason;
    this.attached.reject(reason);
    this.presence.end(reason);
  }

  /** @internal */
  deliver(frame: MessageFrame): void {
    // Serials are contiguous per stream: once attached, one at or below the last seen is a repeat.
    if (this.state === 'attached' && frame.seq !== undefined && this.lastSerial !== undefined && frame.seq <= this.lastSerial) return;
    if (frame.seq !== undefined) this.lastSerial = frame.seq;
    this.deliveredWhileAttaching = true;
    for (const message of toMessages(frame)) this.messages.emit(message.name, message);
  }
}

function toMessages(frame: MessageFrame): Message[] {
  const base = { id: frame.messageId, channel: frame.channel, clientId: frame.clientId, timestamp: frame.timestamp, serial: frame.seq };
  if (frame.messages) return frame.messages.map((m) => clean({ ...base, name: m.name, data: m.data, encoding: m.encoding }));
  return [clean({ ...base, name: frame.name, data: frame.data, encoding: frame.encoding })];
}

function clean(m: Message): Message {
  for (const k of Object.keys(m) as (keyof Message)[]) if (m[k] === undefined) delete m[k];
  return m;
}
