import type { BatchMember, PresenceAction, PresenceMember } from '@hubbub/protocol';

/**
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
  /** Returns what others saw: 'enter', 'update', or null when nothing changed for them. */
  presenceEnter(channelKey: string, member: PresenceMember): Promise<PresenceAction | null>;
  /** Returns 'leave' when the member's last connection let go, else null. */
  presenceLeave(channelKey: string, clientId: string, connectionId: string): Promise<PresenceAction | null>;
  presenceMembers(channelKey: string): Promise<PresenceMember[]>;
  /** Every connection's own member, with when it last entered or updated (Foony's view; REST reads). */
  presenceSnapshot(channelKey: string): Promise<TimedPresenceMember[]>;
  /** Messages after `fromSerial`; `resumed` is false when the cursor is outside the retained window. */
  recover(channelKey: string, fromSerial: number, epoch?: string): Promise<Recovery>;
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

/**
 * The stored form of a draft. Every field is set (absent ones as undefined) so that all messages
 * share one object shape: the fan-out path reads them monomorphically and nothing is copied key by key.
 */
export function storedMessage(draft: MessageDraft, timestamp: number, seq: number | undefined): StoredMessage {
  return {
    name: draft.name,
    data: draft.data,
    messageId: draft.messageId,
    clientId: draft.clientId,
    connectionId: draft.connectionId,
    encoding: draft.encoding,
    messages: draft.messages,
    ephemeral: draft.ephemeral,
    timestamp,
    seq,
  };
}

export interface PublishResult {
  seq?: number;
  duplicate: boolean;
}

/**
 * One presence change, seen two ways: by client id (Hubbub's members, reference-counted by
 * connection) and by connection (Foony's members: every connection is its own member).
 */
export interface PresenceChange {
  /** What watchers of members by client id see; null when nothing changed for them. */
  action: PresenceAction | null;
  /** The member as watchers by client id see it. */
  member: PresenceMember;
  timestamp: number;
  /** What happened to the one connection's hold; null when nothing changed for it. */
  hold: PresenceAction | null;
  /** That connection's member (on leave: with its last data). */
  holder: PresenceMember;
}

export interface Recovery {
  messages: StoredMessage[];
  resumed: boolean;
  seq: number;
  epoch: string;
}

export interface HistoryQuery {
  limit: number;
  /** Backwards paging cursor: serials strictly below it. */
  before?: number;
  direction: 'backwards' | 'forwards';
}

export interface HistoryPage {
  /** Oldest first. */
  messages: StoredMessage[];
  more: boolean;
}

/** How much of a channel's past is kept. */
export interface RetentionOptions {
  /** Most messages kept per channel. */
  historyLimit: number;
  /** Oldest message kept, in ms. */
  historyTtlMs: number;
  /** How long a publish's messageId is remembered to collapse resends, in ms. */
  dedupWindowMs: number;
  /** Overrides per namespace (the part of a channel name before its first `:`). */
  namespaces?: Record<string, NamespaceRetention>;
}

export interface NamespaceRetention {
  historyLimit?: number;
  historyTtlMs?: number;
}

/** History bounds for one channel: its namespace's, else the defaults. */
export function retentionFor(retention: RetentionOptions, channelKey: string): { historyLimit: number; historyTtlMs: number } {
  const channel = channelKey.slice(channelKey.indexOf('/') + 1);
  const colon = channel.indexOf(':');
  const own = colon > 0 ? retention.namespaces?.[channel.slice(0, colon)] : undefined;
  return {
    historyLimit: own?.historyLimit ?? retention.historyLimit,
    historyTtlMs: own?.historyTtlMs ?? retention.historyTtlMs,
  };
}

export const DEFAULT_RETENTION: RetentionOptions = {
  historyLimit: 100,
  historyTtlMs: 120_000,
  dedupWindowMs: 120_000,
};

