import {
  ErrorCode,
  HubbubError,
  type AckFrame,
  type HistoryResponseFrame,
  type MessageFrame,
  type PresenceEventFrame,
  type PresenceMember,
} from '@hubbub/protocol';
import type { Connection } from './connection.js';
import { Emitter } from './emitter.js';

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

export type ChannelState = 'initialized' | 'attaching' | 'attached' | 'detached';

export interface AttachedEvent {
  /** True when the stream may have missed messages (the resume cursor was out of the window). */
  discontinuity: boolean;
}

export interface PresenceMessage {
  action: 'enter' | 'update' | 'leave' | 'present';
  clientId: string;
  connectionId?: string;
  data?: unknown;
}

export interface HistoryOptions {
  limit?: number;
  direction?: 'backwards' | 'forwards';
  /** Page backwards from this serial (exclusive). */
  before?: number;
}

/** Hooks a channel needs from the Realtime that owns it. */
export interface ChannelOwner {
  conn: Connection;
  nextMessageId(): string;
  queueMessages: boolean;
  autoReenterPresence: boolean;
}

export class Channel {
  state: ChannelState = 'initialized';
  readonly presence: Presence;
  private readonly messages = new Emitter<Message>();
  private readonly lifecycle = new Emitter<AttachedEvent>();
  private wanted = false;
  private attachPromise?: Promise<void>;
  /** Resume cursor: the last serial seen, and the stream epoch it belongs to. */
  private lastSerial?: number;
  private epoch?: string;
  private deliveredWhileAttaching = false;

  constructor(
    readonly name: string,
    private readonly owner: ChannelOwner,
  ) {
    this.presence = new Presence(this, owner);
  }

  /** `on(fn)` for every message, `on(name, fn)` for one event name. Returns the unsubscribe function. */
  on(fn: (message: Message) => void): () => void;
  on(name: string, fn: (message: Message) => void): () => void;
  on(a: string | ((message: Message) => void), b?: (message: Message) => void): () => void {
    const off = typeof a === 'function' ? this.messages.on(undefined, a) : this.messages.on(a, b!);
    void this.attach().catch(() => {});
    return off;
  }

  off(name?: string, fn?: (message: Message) => void): void {
    this.messages.off(name, fn);
  }

  /** `on('attached', fn)` tells each (re)attach, with `discontinuity` when messages may be missing. */
  onAttached(fn: (event: AttachedEvent) => void): () => void {
    return this.lifecycle.on('attached', fn);
  }

  /** Resolves once the server acknowledged the message; rejects with a coded HubbubError. */
  async publish(name: string, data?: unknown): Promise<void> {
    if (typeof name !== 'string') throw new HubbubError(ErrorCode.BadFrame, 'publish needs an event name');
    void this.attach().catch(() => {});
    const messageId = this.owner.nextMessageId();
    await this.owner.conn.request(
      { t: 'pub', channel: this.name, name, data, messageId },
      { resend: true, queue: this.owner.queueMessages },
    );
  }

  /** Start receiving messages; resolves once the server has acknowledged the subscription. */
  attach(): Promise<void> {
    this.wanted = true;
    if (this.state === 'attached') return Promise.resolve();
    return (this.attachPromise ??= this.subscribe().finally(() => (this.attachPromise = undefined)));
  }

  async detach(): Promise<void> {
    this.wanted = false;
    this.state = 'detached';
    if (this.owner.conn.state === 'connected') {
      await this.owner.conn.request({ t: 'unsub', channel: this.name });
    }
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

  private async subscribe(): Promise<void> {
    this.state = 'attaching';
    const resuming = this.lastSerial !== undefined;
    this.deliveredWhileAttaching = false;
    let ack: AckFrame;
    try {
      ack = (await this.owner.conn.request({
        t: 'sub',
        channel: this.name,
        ...(resuming ? { lastSerial: this.lastSerial, epoch: this.epoch } : {}),
      })) as AckFrame;
    } catch (err) {
      if (this.state === 'attaching') this.state = 'detached';
      throw err;
    }
    const restarted = !resuming || ack.resumed === false;
    if (ack.seq !== undefined) {
      // A new stream with nothing replayed starts from the server's position; otherwise never go back.
      this.lastSerial = restarted && !this.deliveredWhileAttaching ? ack.seq : Math.max(this.lastSerial ?? 0, ack.seq);
    }
    this.epoch = ack.epoch ?? this.epoch;
    this.state = 'attached';
    this.lifecycle.emit('attached', { discontinuity: resuming && ack.resumed === false });
  }

  /** @internal The connection came (back) up: re-issue what this channel had. */
  reattach(): void {
    if (this.wanted) {
      this.state = 'initialized';
      void this.attach().catch(() => {});
    }
    this.presence.reattach();
  }

  /** @internal The connection dropped. */
  suspend(): void {
    if (this.state === 'attached' || this.state === 'attaching') this.state = 'initialized';
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

/** Members of a channel: enter/update/leave as this client, and the events of everyone. */
export class Presence {
  private readonly events = new Emitter<PresenceMessage>();
  private readonly members = new Map<string, PresenceMember>();
  private subscribed = false;
  private syncPromise?: Promise<void>;
  /** What this client entered with, for autoReenterPresence. */
  private own?: { data: unknown };

  constructor(
    private readonly channel: Channel,
    private readonly owner: ChannelOwner,
  ) {}

  /** `on(fn)` or `on(action, fn)`; current members arrive first as `present`. */
  on(fn: (message: PresenceMessage) => void): () => void;
  on(action: PresenceMessage['action'], fn: (message: PresenceMessage) => void): () => void;
  on(a: string | ((m: PresenceMessage) => void), b?: (m: PresenceMessage) => void): () => void {
    const off = typeof a === 'function' ? this.events.on(undefined, a) : this.events.on(a, b!);
    void this.sync().catch(() => {});
    return off;
  }

  off(action?: string, fn?: (message: PresenceMessage) => void): void {
    this.events.off(action, fn);
  }

  enter(data?: unknown): Promise<void> {
    this.own = { data };
    return this.send('enter', data);
  }

  update(data?: unknown): Promise<void> {
    this.own = { data };
    return this.send('update', data);
  }

  leave(data?: unknown): Promise<void> {
    this.own = undefined;
    return this.send('leave', data);
  }

  /** The members present now. */
  async get(): Promise<PresenceMessage[]> {
    await this.sync();
    return [...this.members.values()].map((m) => ({ action: 'present', ...m }));
  }

  private async send(action: 'enter' | 'update' | 'leave', data: unknown): Promise<void> {
    await this.owner.conn.request(
      { t: 'pres', channel: this.channel.name, action, ...(data !== undefined ? { data } : {}) },
      { resend: true, queue: this.owner.queueMessages },
    );
  }

  private sync(): Promise<void> {
    this.subscribed = true;
    return (this.syncPromise ??= this.subscribe().catch((err) => {
      this.syncPromise = undefined;
      throw err;
    }));
  }

  private async subscribe(): Promise<void> {
    const ack = (await this.owner.conn.request({ t: 'presSub', channel: this.channel.name })) as AckFrame;
    const now = new Map((ack.members ?? []).map((m) => [m.clientId, m]));
    const first = this.members.size === 0;
    // After a reconnect, tell only the difference: no leave/enter flicker for members who stayed.
    for (const [clientId, old] of this.members) {
      if (!now.has(clientId)) this.apply({ action: 'leave', ...old });
    }
    for (const [clientId, m] of now) {
      const old = this.members.get(clientId);
      if (!old) this.apply({ action: first ? 'present' : 'enter', ...m });
      else if (JSON.stringify(old.data) !== JSON.stringify(m.data)) this.apply({ action: 'update', ...m });
    }
  }

  /** @internal */
  reattach(): void {
    if (this.own && this.owner.autoReenterPresence) void this.send('enter', this.own.data).catch(() => {});
    if (this.subscribed) {
      this.syncPromise = undefined;
      void this.sync().catch(() => {});
    }
  }

  /** @internal */
  deliver(frame: PresenceEventFrame): void {
    const message: PresenceMessage = { action: frame.action, clientId: frame.clientId, connectionId: frame.connectionId };
    if (frame.data !== undefined) message.data = frame.data;
    this.apply(message);
  }

  private apply(message: PresenceMessage): void {
    if (message.action === 'leave') this.members.delete(message.clientId);
    else {
      const member: PresenceMember = { clientId: message.clientId, connectionId: message.connectionId ?? '' };
      if (message.data !== undefined) member.data = message.data;
      this.members.set(message.clientId, member);
    }
    this.events.emit(message.action, message);
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
