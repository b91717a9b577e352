import { randomBytes } from 'node:crypto';
import type { PresenceAction, PresenceMember } from '@hubbub/protocol';
import { ChannelPresence, samePresenceData } from '../core/presence.js';
import { DedupWindow } from './dedup-window.js';
import { MessageLog } from './message-log.js';
import {
  DEFAULT_RETENTION,
  retentionFor,
  storedMessage,
  type Engine,
  type EngineEvents,
  type HistoryPage,
  type HistoryQuery,
  type MessageDraft,
  type PublishResult,
  type Recovery,
  type RetentionOptions,
  type TimedPresenceMember,
} from './engine.js';

interface ChannelState {
  key: string;
  epoch: string;
  seq: number;
  /** Bounded by count and age. */
  history: MessageLog;
  bounds: { historyLimit: number; historyTtlMs: number };
  presence: ChannelPresence;
}

/** The embedded default: one process, nothing shared, no service needed. */
export class MemoryEngine implements Engine {
  readonly serialsOutliveProcess = false;
  readonly kind = 'memory';
  private events?: EngineEvents;
  private readonly channels = new Map<string, ChannelState>();
  private readonly listening = new Set<string>();
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
    const seen = this.dedup.seen(state.key, draft.clientId, draft.messageId, now);
    if (seen !== undefined) return { seq: seen === 0 ? undefined : seen, duplicate: true };
    const message = storedMessage(draft, now, draft.ephemeral ? undefined : ++state.seq);
    if (!draft.ephemeral) {
      state.history.append(message);
      this.trim(state, now);
    }
    this.dedup.remember(state.key, draft.clientId, draft.messageId, message.seq, now);
    if (this.listening.has(channelKey)) this.events?.message(channelKey, message);
    return { seq: message.seq, duplicate: false };
  }

  listen(channelKey: string): void {
    this.listening.add(channelKey);
  }

  unlisten(channelKey: string): void {
    this.listening.delete(channelKey);
  }

  async presenceEnter(channelKey: string, member: PresenceMember): Promise<PresenceAction | null> {
    const presence = this.state(channelKey).presence;
    const previous = presence.holder(member.clientId, member.connectionId);
    const action = presence.enter(member.clientId, member.connectionId, member.data, member.encoding);
    const hold = !previous ? 'enter' : samePresenceData(previous, member) ? null : 'update';
    if (action || hold) this.events?.presence(channelKey, { action, member, timestamp: Date.now(), hold, holder: member });
    return action;
  }

  async presenceLeave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceAction | null> {
    const presence = this.channels.get(channelKey)?.presence;
    const holder = presence?.holder(clientId, connectionId);
    if (!presence || !holder) return null;
    const before = presence.member(clientId);
    const action = presence.leave(clientId, connectionId);
    const member = action === 'leave' ? before! : (presence.member(clientId) ?? holder);
    this.events?.presence(channelKey, { action, member, timestamp: Date.now(), hold: 'leave', holder });
    return action;
  }

  async presenceMembers(channelKey: string): Promise<PresenceMember[]> {
    return this.channels.get(channelKey)?.presence.list() ?? [];
  }

  async presenceSnapshot(channelKey: string): Promise<TimedPresenceMember[]> {
    return this.channels.get(channelKey)?.presence.holders() ?? [];
  }

  async recover(channelKey: string, fromSerial: number, epoch?: string): Promise<Recovery> {
    const state = this.state(channelKey);
    this.trim(state, Date.now());
    const base = { seq: state.seq, epoch: state.epoch };
    const sameStream = epoch === undefined ? fromSerial <= state.seq : epoch === state.epoch;
    if (!sameStream) {
      // The cursor belongs to a stream that was reset (e.g. a restart): replay what is kept, flag the gap.
      return { ...base, messages: state.history.all(), resumed: false };
    }
    const oldest = state.history.oldestSeq ?? state.seq + 1;
    return { ...base, messages: state.history.after(fromSerial), resumed: fromSerial + 1 >= oldest };
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
      state = { key: channelKey, epoch: randomBytes(6).toString('base64url'), seq: 0, history: new MessageLog(), bounds: retentionFor(this.retention, channelKey), presence: new ChannelPresence() };
      this.channels.set(channelKey, state);
    }
    return state;
  }

  private trim(state: ChannelState, now: number): void {
    state.history.trim(state.bounds.historyLimit, state.bounds.historyTtlMs, now);
  }

  /** Forget what has aged out. A channel with nothing left is dropped; a later one gets a new epoch. */
  private sweep(now: number): void {
    this.dedup.expire(now);
    for (const [key, state] of this.channels) {
      this.trim(state, now);
      if (state.history.length === 0 && state.presence.size === 0 && !this.listening.has(key)) this.channels.delete(key);
    }
  }
}
