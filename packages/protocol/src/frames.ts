/**
 * The frame model (Foony Realtime's): every frame is an object with a `t` discriminator.
 * Client frames that expect a reply carry a numeric `id`; the server answers with `ack`
 * (or a typed reply such as `histRes`) or with `err` carrying the same `id`.
 */

export type PresenceAction = 'enter' | 'update' | 'leave';

/** One message of a batch publish: many messages under one `messageId`. */
export interface BatchMember {
  /** Event name subscribers filter on. */
  name: string;
  /** Any JSON value. */
  data: unknown;
  /** Opaque encoding label (e.g. end-to-end encryption); the server never looks inside. */
  encoding?: string;
}

// ---- client → server ----

export interface AuthFrame {
  t: 'auth';
  /** JWT (from `hubbub devtoken`, `POST /auth/token` or the app's own server). */
  token?: string;
  /** API key `app.keyId:secret`, for trusted servers only. */
  key?: string;
  /** Client id asked for when authenticating with a key. */
  clientId?: string;
  /** Connection id of a previous connection: a quick reconnect keeps its presence membership. */
  resumeConnectionId?: string;
  /** `false` asks the server not to echo this connection's own publishes back. */
  echo?: boolean;
}

export interface SubscribeFrame {
  t: 'sub';
  id: number;
  channel: string;
  /** Resume cursor: replay messages with serial > lastSerial before going live. */
  lastSerial?: number;
  /** Stream epoch the cursor belongs to (from the previous `ack`); detects a reset stream. */
  epoch?: string;
}

export interface UnsubscribeFrame {
  t: 'unsub';
  id: number;
  channel: string;
}

export interface PublishFrame {
  t: 'pub';
  id: number;
  channel: string;
  name: string;
  data: unknown;
  /** Client-assigned, stable across resends: the server collapses duplicates (exactly-once). */
  messageId: string;
  encoding?: string;
  /** Batch members: when present, `name`/`data` are ignored. */
  messages?: BatchMember[];
  /** Live only: not kept in history, not replayed on resume. */
  ephemeral?: boolean;
}

export interface PresenceFrame {
  t: 'pres';
  id: number;
  channel: string;
  action: PresenceAction;
  data?: unknown;
  encoding?: string;
}

export interface PresenceSubscribeFrame {
  t: 'presSub';
  id: number;
  channel: string;
}

export interface PresenceUnsubscribeFrame {
  t: 'presUnsub';
  id: number;
  channel: string;
}

export interface HistoryFrame {
  t: 'hist';
  id: number;
  channel: string;
  limit?: number;
  /** Page backwards: only messages with serial < before. */
  before?: number;
  /** `forwards` returns oldest first from `after`; default `backwards` (newest page, oldest-first order). */
  direction?: 'backwards' | 'forwards';
}

export interface FetchFrame {
  t: 'fetch';
  id: number;
  channel: string;
  fromSerial: number;
}

/** Subscribe to a platform topic (`sync.<doc>`, a watched table, …) with an optional payload filter. */
export interface TopicSubscribeFrame {
  t: 'tsub';
  id: number;
  /** The client's own subscription id (`sub_1`), echoed in nothing but used to unsubscribe. */
  sid: string;
  topic: string;
  filter?: TopicFilter;
  /** Resume cursor for the topic, from earlier `evt.seq` / `ack.seq`: replays retained events after it. */
  lastSerial?: number;
  epoch?: string;
}

export interface TopicUnsubscribeFrame {
  t: 'tunsub';
  id: number;
  sid: string;
}

/** A direct message to every connection of one client id of the same app. */
export interface DirectMessageFrame {
  t: 'dm';
  id: number;
  to: string;
  name: string;
  data?: unknown;
}

/** Payload field → exact value, or `{ in: [...] }`. Fields are ANDed. */
export type TopicFilter = Record<string, FilterValue | { in: FilterValue[] }>;
export type FilterValue = string | number | boolean | null;

export interface PingFrame {
  t: 'ping';
  id?: number;
}

export type ClientFrame =
  | AuthFrame
  | SubscribeFrame
  | UnsubscribeFrame
  | PublishFrame
  | PresenceFrame
  | PresenceSubscribeFrame
  | PresenceUnsubscribeFrame
  | HistoryFrame
  | FetchFrame
  | TopicSubscribeFrame
  | TopicUnsubscribeFrame
  | DirectMessageFrame
  | PingFrame;

// ---- server → client ----

export interface ConnectedFrame {
  t: 'connected';
  connectionId: string;
  clientId: string;
  /** The client should send something (a `ping` if idle) at least this often. */
  keepAliveMs: number;
  /** Unix ms at which the token expires, if it does. */
  expiresAt?: number;
  /** Largest frame the server accepts, in bytes: a bigger one closes the connection (1009). */
  maxFrameBytes?: number;
}

export interface AckFrame {
  t: 'ack';
  id: number;
  /** Publish: the channel serial given to the message. Subscribe: the channel's latest serial. */
  seq?: number;
  /** Subscribe with a cursor: true if every missed message was replayed before this ack. */
  resumed?: boolean;
  /** Subscribe: the channel stream's epoch, to send back with the next cursor. */
  epoch?: string;
  /** Publish: true when this messageId was already published (the resend was collapsed). */
  duplicate?: boolean;
  /** presSub: the current members. */
  members?: PresenceMember[];
  /**
   * presSub: the channel's presence serial the member list is as of; `presEvt`s at or below it are
   * already in the list. pres: the serial of this connection's change.
   */
  pseq?: number;
  /** pres: what watchers by client id saw (absent when nothing changed for them). */
  action?: PresenceAction;
}

export interface MessageFrame {
  t: 'msg';
  channel: string;
  name: string;
  data: unknown;
  messageId: string;
  timestamp: number;
  clientId?: string;
  encoding?: string;
  /** Contiguous per-channel serial; absent for ephemeral messages. */
  seq?: number;
  messages?: BatchMember[];
  ephemeral?: boolean;
}

export interface PresenceMember {
  clientId: string;
  connectionId: string;
  data?: unknown;
  encoding?: string;
}

export interface PresenceEventFrame {
  t: 'presEvt';
  channel: string;
  action: PresenceAction;
  clientId: string;
  connectionId: string;
  data?: unknown;
  encoding?: string;
  timestamp: number;
  /**
   * Presence serial: grows with every presence change of the channel, so a client can order a
   * member's events and drop the ones its snapshot (`ack.pseq`) already holds.
   */
  pseq?: number;
}

export interface ErrorFrame {
  t: 'err';
  id?: number;
  code: number;
  message: string;
  /** Set when the error concerns one channel (e.g. a subscription the server dropped). */
  channel?: string;
}

export interface PongFrame {
  t: 'pong';
  id?: number;
}

export interface HistoryResponseFrame {
  t: 'histRes';
  id: number;
  channel: string;
  /** Oldest first. */
  messages: MessageFrame[];
  more?: boolean;
}

export interface FetchResponseFrame {
  t: 'fetchRes';
  id: number;
  channel: string;
  messages: MessageFrame[];
  resumed: boolean;
}

/** One event of the platform services, as `RealtimeClient` hands it out. */
export interface RealtimeEvent {
  id: string;
  topic: string;
  source: 'database' | 'sync' | 'socket';
  type: string;
  payload: unknown;
  metadata: {
    timestamp: number;
    table?: string;
    operation?: 'insert' | 'update' | 'delete';
    revision?: number;
    /** Who sent it, for socket messages. */
    clientId?: string;
  };
}

/** A platform event for this connection's topic subscriptions (filters already applied) or a direct message. */
export interface EventFrame {
  t: 'evt';
  event: RealtimeEvent;
  /** Position in the topic's stream, for resuming after a reconnect (absent for direct messages). */
  seq?: number;
}

export type ServerFrame =
  | ConnectedFrame
  | AckFrame
  | MessageFrame
  | PresenceEventFrame
  | ErrorFrame
  | PongFrame
  | HistoryResponseFrame
  | FetchResponseFrame
  | EventFrame;
