import { randomBytes } from 'node:crypto';
import { ErrorCode, HubbubError, type PresenceMember } from '@hubbub/protocol';
import { ChannelPresence } from '../core/presence.js';
import { samePresenceData, seenByAnyone } from '../core/presence-views.js';
import { DedupWindow } from './dedup-window.js';
import { MessageLog } from './message-log.js';
import { DEFAULT_RETENTION, retentionFor, type RetentionOptions } from './retention.js';
import { nextPresenceSerial, storedMessage } from './stored-message.js';
import { type Engine, type EngineEvents, type HistoryPage, type HistoryQuery, type MessageDraft, type PresenceChange, type PresenceOutcome, type PresenceSync, type PublishResult, type Recovery, type StoredMessage, type TimedPresenceMember } from '../core/engine.js';

interface ChannelState {
  key: string;
  epoch: string;
  seq: number;
  /** Bounded by count and age. */
  history: MessageLog;
  bounds: { historyLimit: number; historyTtlMs: number };
  presence: ChannelPresence;
  /** Presence serial of the last change. */
  pseq: number;
  /** The app's bytes this channel is counted for (its history plus a fixed overhead). */
  counted: number;
}

/** What an empty channel costs beyond its history: its state, index and presence, roughly. */
const CHANNEL_OVERHEAD_BYTES = 2048;

/** The embedded default: one process, nothing shared, no service needed. */
export class MemoryEngine implements Engine {
  readonly serialsOutliveProcess = false;
  readonly kind = 'memory';
  private events?: EngineEvents;
  private readonly channels = new Map<string, ChannelState>();
  private readonly listening = new Set<string>();
  /** Bytes each app's channels hold, against `maxHistoryBytesPerApp`. */
  private readonly appBytes = new Map<string, number>();
  private readonly dedup: DedupWindow;
  private readonly retention: RetentionOptions;
  private sweeper?: NodeJS.Timeout;

  constructor(retention: Partial<RetentionOptions> = {}) {
    this.retention = { ...DEFAULT_RETENTION, ...retention };
    this.dedup = new DedupWindow(this.retention.dedupWindowMs);
  }

  async start(events: EngineEvents): Promise<void> {
    this.events = events;
    this.sweeper = setInterval(() => this.sweep(Date.now()), 5_000);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  async publish(channelKey: string, draft: MessageDraft): Promise<PublishResult> {
    const now = Date.now();
    const state = this.state(channelKey);
    const dedupScope = draft.dedupScope ?? draft.clientId;
    const seen = this.dedup.seen(state.key, dedupScope, draft.messageId, now);
    if (seen !== undefined) return { seq: seen === 0 ? undefined : seen, duplicate: true };
    const message = storedMessage(draft, now, draft.ephemeral ? undefined : state.seq + 1);
    if (!draft.ephemeral) {
      const app = appOfKey(channelKey);
      const budget = this.retention.maxHistoryBytesPerApp ?? Infinity;
      if ((this.appBytes.get(app) ?? 0) >= budget) {
        throw new HubbubError(ErrorCode.RateLimited, `this app's retained history is full (${budget} bytes): publishes resume as history ages out`);
      }
      // Stored first, counted after: a message that cannot be stored must not leave a hole in the serials.
      state.history.append(message);
      state.seq++;
      this.trim(state, now);
    }
    this.dedup.remember(state.key, dedupScope, draft.messageId, message.seq, now);
    if (this.listening.has(channelKey)) this.events?.message(channelKey, message);
    return { seq: message.seq, duplicate: false };
  }

  listen(channelKey: string): void {
    this.listening.add(channelKey);
  }

  unlisten(channelKey: string): void {
    this.listening.delete(channelKey);
  }

  async presenceEnter(channelKey: string, member: PresenceMember): Promise<PresenceOutcome> {
    const state = this.state(channelKey);
    const previous = state.presence.holder(member.clientId, member.connectionId);
    const before = state.presence.member(member.clientId);
    state.presence.enter(member.clientId, member.connectionId, member.data, member.encoding);
    // The hold entered last speaks for the member.
    const facts = { hold: !previous ? 'enter' : samePresenceData(previous, member) ? null : 'update', holder: member, shown: { before, after: member } } as const;
    return this.announce(channelKey, state, facts);
  }

  async presenceLeave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceOutcome> {
    const state = this.channels.get(channelKey);
    const holder = state?.presence.holder(clientId, connectionId);
    if (!state || !holder) return { pseq: state?.pseq ?? 0 };
    const before = state.presence.member(clientId);
    state.presence.leave(clientId, connectionId);
    return this.announce(channelKey, state, { hold: 'leave', holder, shown: { before, after: state.presence.member(clientId) } });
  }

  /** A change anyone sees moves the channel's presence serial and goes to this node's listener. */
  private announce(channelKey: string, state: ChannelState, facts: Omit<PresenceChange, 'pseq' | 'timestamp'>): PresenceOutcome {
    if (!seenByAnyone(facts)) return { pseq: state.pseq };
    const timestamp = Date.now();
    const change: PresenceChange = { pseq: (state.pseq = nextPresenceSerial(state.pseq, timestamp)), timestamp, ...facts };
    if (this.listening.has(channelKey)) this.events?.presence(channelKey, change);
    return { pseq: change.pseq, change };
  }

  async presenceMembers(channelKey: string): Promise<PresenceMember[]> {
    return (await this.presenceSync(channelKey)).members;
  }

  async presenceSync(channelKey: string): Promise<PresenceSync> {
    const state = this.channels.get(channelKey);
    return { members: state?.presence.list() ?? [], pseq: state?.pseq ?? 0 };
  }

  async presenceSnapshot(channelKey: string): Promise<TimedPresenceMember[]> {
    return this.channels.get(channelKey)?.presence.holders() ?? [];
  }

  async recover(channelKey: string, fromSerial: number, epoch?: string, maxBytes?: number): Promise<Recovery> {
    const state = this.state(channelKey);
    this.trim(state, Date.now());
    const base = { seq: state.seq, epoch: state.epoch };
    const sameStream = epoch === undefined ? fromSerial <= state.seq : epoch === state.epoch;
    if (!sameStream) {
      // The cursor belongs to a stream that was reset (e.g. a restart): replay what is kept, flag the gap.
      return { ...base, ...paged(state.history.pageAfter(undefined, maxBytes), maxBytes), resumed: false };
    }
    const oldest = state.history.oldestSeq ?? state.seq + 1;
    return { ...base, ...paged(state.history.pageAfter(fromSerial, maxBytes), maxBytes), resumed: fromSerial + 1 >= oldest };
  }

  async history(channelKey: string, query: HistoryQuery): Promise<HistoryPage> {
    const state = this.channels.get(channelKey);
    if (!state) return { messages: [], more: false };
    this.trim(state, Date.now());
    return state.history.page(query);
  }

  async position(channelKey: string): Promise<{ seq: number; epoch: string }> {
    const state = this.state(channelKey);
    return { seq: state.seq, epoch: state.epoch };
  }

  private state(channelKey: string): ChannelState {
    let state = this.channels.get(channelKey);
    if (!state) {
      state = { key: channelKey, epoch: randomBytes(6).toString('base64url'), seq: 0, history: new MessageLog(), bounds: retentionFor(this.retention, channelKey), presence: new ChannelPresence(), pseq: 0, counted: 0 };
      this.channels.set(channelKey, state);
    }
    return state;
  }

  private trim(state: ChannelState, now: number): void {
    state.history.trim(state.bounds.historyLimit, state.bounds.historyTtlMs, now);
    this.count(state, CHANNEL_OVERHEAD_BYTES + state.history.bytes);
  }

  /** Keep the app's total in step with what this channel now holds. */
  private count(state: ChannelState, bytes: number): void {
    if (bytes === state.counted) return;
    const app = appOfKey(state.key);
    const total = (this.appBytes.get(app) ?? 0) + bytes - state.counted;
    state.counted = bytes;
    if (total > 0) this.appBytes.set(app, total);
    else this.appBytes.delete(app);
  }

  /** Forget what has aged out. A channel with nothing left is dropped; a later one gets a new epoch. */
  private sweep(now: number): void {
    this.dedup.expire(now);
    for (const [key, state] of this.channels) {
      this.trim(state, now);
      if (state.history.length === 0 && state.presence.size === 0 && !this.listening.has(key)) {
        this.count(state, 0);
        this.channels.delete(key);
      }
    }
  }
}

/** The app of an app-scoped key `app/channel`. */
function appOfKey(channelKey: string): string {
  return channelKey.slice(0, channelKey.indexOf('/'));
}

/** A recovery says `more` only when it was asked for a page. */
function paged(page: { messages: StoredMessage[]; more: boolean }, maxBytes: number | undefined): { messages: StoredMessage[]; more?: boolean } {
  return maxBytes === undefined ? { messages: page.messages } : page;
}
