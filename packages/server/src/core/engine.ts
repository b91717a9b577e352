import type { BatchMember, PresenceAction, PresenceMember } from '@hubbub/protocol';

/**
 * The contract core owns for what it shares with other nodes; engines (engine/) implement it.
 *
 * The one seam between a node and everything shared with other nodes: fan-out, presence,
 * history and dedup records. Channel keys are already scoped by app (`app/channel`), so an
 * engine never needs to know about tenants.
 */
export interface Engine {
  readonly kind: string;
  /**
   * True when serials live outside this process (Redis): a cursor from before a restart still
   * points into the same stream. False (memory): a restarted process starts every stream again.
   */
  readonly serialsOutliveProcess: boolean;
  start(events: EngineEvents): Promise<void>;
  close(): Promise<void>;
  /** Throws when what the engine depends on is unreachable. */
  ping?(): Promise<void>;
  /** Ids of the live nodes sharing this engine. */
  nodes?(): Promise<string[]>;
  /** Dedup, give a serial, keep in history, and deliver to every node listening on the channel. */
  publish(channelKey: string, draft: MessageDraft): Promise<PublishResult>;
  /**
   * This node has local subscribers on the channel: deliver its messages here. Idempotent; resolves
   * once deliveries are flowing, so a cursor read afterwards misses nothing.
   */
  listen(channelKey: string): Promise<void> | void;
  unlisten(channelKey: string): void;
  /** Enter or update one connection's hold; the outcome carries the change, when anyone sees one. */
  presenceEnter(channelKey: string, member: PresenceMember): Promise<PresenceOutcome>;
  /** Release one connection's hold; the outcome carries the change, when anyone sees one. */
  presenceLeave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceOutcome>;
  presenceMembers(channelKey: string): Promise<PresenceMember[]>;
  /**
   * The members by client id and the presence serial they are as of, read in one step: a change
   * with a higher serial happened after the list was taken, one at or below it is in the list.
   */
  presenceSync(channelKey: string): Promise<PresenceSync>;
  /** Every connection's own member, with when it last entered or updated (the binary dialect's per-connection presence view; REST reads). */
  presenceSnapshot(channelKey: string): Promise<TimedPresenceMember[]>;
  /**
   * Messages after `fromSerial`; `resumed` is false when the cursor is outside the retained window (or
   * of another epoch: then every retained message). With `maxBytes`, only the first of them that fit in
   * it (at least one), and `more` says whether others follow: ask again from the last one's serial.
   */
  recover(channelKey: string, fromSerial: number, epoch?: string, maxBytes?: number): Promise<Recovery>;
  history(channelKey: string, query: HistoryQuery): Promise<HistoryPage>;
  /** The channel's current serial and epoch, for a fresh subscription's cursor. */
  position(channelKey: string): Promise<{ seq: number; epoch: string }>;
}

export interface EngineEvents {
  message(channelKey: string, message: StoredMessage): void;
  presence(channelKey: string, change: PresenceChange): void;
}

/** A presence member and when it last entered or updated, Unix ms. */
export type TimedPresenceMember = PresenceMember & { timestamp: number };

/** What a publisher hands the engine. */
export interface MessageDraft {
  name: string;
  data: unknown;
  messageId: string;
  clientId?: string;
  /**
   * Whose ids `messageId` is unique among, when not the client id's: an API key publishing over
   * REST without a client id gets a scope of its own (`key/<name>`), so two keys of one app never
   * collapse each other's ids. Must not be spelled like a client id. Only dedup reads it: it is
   * neither stored nor delivered.
   */
  dedupScope?: string;
  /** The publishing connection, so it can be skipped when it opted out of echoes. */
  connectionId?: string;
  encoding?: string;
  messages?: BatchMember[];
  ephemeral?: boolean;
}

export interface StoredMessage extends MessageDraft {
  timestamp: number;
  /** Contiguous per-channel serial; absent for ephemeral messages. */
  seq?: number;
}

export interface PublishResult {
  seq?: number;
  duplicate: boolean;
}

/**
 * One presence change, as an engine keeps presence: one connection's hold on the member of its client
 * id. Engines report this one model; core derives what watchers see from it (core/presence-views.ts):
 * by connection, the hold itself; by client id, the member the client shows (`presenceViews`).
 */
export interface PresenceChange {
  /** The channel's presence serial after this change (see `PresenceOutcome.pseq`). */
  pseq: number;
  /** When the change happened, Unix ms. */
  timestamp: number;
  /**
   * What happened to the connection's hold; null when the hold itself did not change: entered again
   * with the same data, or let go through one node while another node still holds the connection.
   */
  hold: PresenceAction | null;
  /** That connection's member (on leave: with its last data). */
  holder: PresenceMember;
  /**
   * The member the connection's client id shows (the one its latest hold speaks for), before the change
   * and after it; absent while the client holds nothing.
   */
  shown: { before?: PresenceMember; after?: PresenceMember };
}

/** What one presence call did, and where it sits in the channel's order. */
export interface PresenceOutcome {
  /**
   * The channel's presence serial after the call (unchanged when nothing changed). Serials grow with
   * every change and never go back, even across restarts of the engine's state, because each is at
   * least the change's time in microseconds: clients order a member's events by them.
   */
  pseq: number;
  /**
   * The change, when anyone sees one (`seenByAnyone`): what was announced to listening nodes. Absent
   * otherwise, though the serial may still have moved (a hold let go through one node while another
   * node holds the connection).
   */
  change?: PresenceChange;
}

export interface PresenceSync {
  members: PresenceMember[];
  pseq: number;
}

export interface Recovery {
  messages: StoredMessage[];
  /** With `maxBytes`: more retained messages follow these. */
  more?: boolean;
  resumed: boolean;
  seq: number;
  epoch: string;
}

export interface HistoryQuery {
  limit: number;
  /** Backwards paging cursor: serials strictly below it. */
  before?: number;
  direction: 'backwards' | 'forwards';
  /** Stop the page once its messages pass this many bytes (at least one message); `more` then says so. */
  maxBytes?: number;
}

export interface HistoryPage {
  /** Oldest first. */
  messages: StoredMessage[];
  more: boolean;
}
