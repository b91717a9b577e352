import type { EventFrame, MessageFrame, PresenceEventFrame, RealtimeEvent } from '@hubbub/protocol';
import type { StoredMessage } from './engine.js';

/** What encodes a shared frame once for all its connections: a dialect. */
export interface SharedEncoder {
  encodeShared(frame: Outbound): string | Uint8Array | undefined;
}

/** What `memo` keeps for a key whose value is undefined (a dialect with no form for the frame). */
const NONE = Symbol('none');

/**
 * A frame bound for many connections, encoded at most once per dialect: every subscriber of a
 * channel shares the same bytes instead of paying for its own encoding. Dialects and transports keep
 * what they derive from it (encodings, framed bytes) in its memo, keyed by themselves.
 */
export class Outbound {
  // Two parallel arrays, not a Map: a frame has one or two entries, and one is made per message.
  private keys?: object[];
  private values?: unknown[];
  constructor(readonly frame: MessageFrame | PresenceEventFrame | EventFrame) {}

  /** `make()` the first time `key` asks, the same value after. */
  memo<T>(key: object, make: () => T): T {
    const keys = (this.keys ??= []);
    const i = keys.indexOf(key);
    if (i >= 0) {
      const value = this.values![i];
      return (value === NONE ? undefined : value) as T;
    }
    const value = make();
    keys.push(key);
    (this.values ??= []).push(value === undefined ? NONE : value);
    return value;
  }

  /** The frame in a dialect's encoding; undefined when the dialect has no form for it. */
  encodedFor(dialect: SharedEncoder): string | Uint8Array | undefined {
    return this.memo(dialect, () => dialect.encodeShared(this));
  }

  get channel(): string | undefined {
    return this.frame.t === 'evt' ? undefined : this.frame.channel;
  }
}

/** The user-visible channel name of an app-scoped key `app/channel`. */
export function channelOf(channelKey: string): string {
  return channelKey.slice(channelKey.indexOf('/') + 1);
}

export function appOf(channelKey: string): string {
  return channelKey.slice(0, channelKey.indexOf('/'));
}

export function channelKeyOf(app: string, channel: string): string {
  return `${app}/${channel}`;
}

/** The wire shape of a stored message; the publisher's connection id stays on the server. */
export function messageFrame(channel: string, m: StoredMessage): MessageFrame {
  const frame: MessageFrame = { t: 'msg', channel, name: m.name, data: m.data, messageId: m.messageId, timestamp: m.timestamp };
  if (m.clientId !== undefined) frame.clientId = m.clientId;
  if (m.encoding !== undefined) frame.encoding = m.encoding;
  if (m.seq !== undefined) frame.seq = m.seq;
  if (m.messages !== undefined) frame.messages = m.messages;
  if (m.ephemeral) frame.ephemeral = true;
  return frame;
}

/** A platform event as sent to topic subscribers: the event, and its position for resuming. */
export function eventFrame(m: StoredMessage): EventFrame {
  return m.seq === undefined ? { t: 'evt', event: m.data as RealtimeEvent } : { t: 'evt', event: m.data as RealtimeEvent, seq: m.seq };
}
