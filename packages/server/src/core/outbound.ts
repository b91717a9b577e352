import { encodeServerFrame, messageRecordMember, type PresenceAction, type PresenceMember, type EventFrame, type MessageFrame, type PresenceEventFrame, type RealtimeEvent } from '@hubbub/protocol';
import type { PresenceChange, StoredMessage } from '../engine/engine.js';

/**
 * A frame bound for many connections, encoded at most once per codec: every subscriber of a
 * channel shares the same text (or binary record) instead of paying for its own encoding.
 */
export class Outbound {
  private json?: string;
  private binary?: Uint8Array;
  private memberBytes?: Uint8Array;
  /** Transport-ready bytes, filled in by the transport the first time it needs them. */
  wire?: Buffer;
  constructor(readonly frame: MessageFrame | PresenceEventFrame | EventFrame) {}

  get text(): string {
    return (this.json ??= JSON.stringify(this.frame));
  }

  /** The frame as one length-prefixed binary record (platform `evt` frames have none). */
  get record(): Uint8Array {
    return (this.binary ??= encodeServerFrame(this.frame as MessageFrame | PresenceEventFrame));
  }

  /** For a channel message: its bytes as a bundle member, so a run of them can be coalesced. */
  get member(): Uint8Array | undefined {
    if (this.frame.t !== 'msg') return undefined;
    return (this.memberBytes ??= messageRecordMember(this.record));
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

/** The change as watchers by client id see it (call only when `change.action` is set). */
export function presenceFrame(channel: string, change: Pick<PresenceChange, 'action' | 'member' | 'timestamp'> & { pseq?: number }): PresenceEventFrame {
  const frame = presenceEventFrame(channel, change.action!, change.member, change.timestamp);
  if (change.pseq) frame.pseq = change.pseq;
  return frame;
}

/** The change as watchers by connection (Foony) see it (call only when `change.hold` is set). */
export function holderFrame(channel: string, change: PresenceChange): PresenceEventFrame {
  return presenceEventFrame(channel, change.hold!, change.holder, change.timestamp);
}

function presenceEventFrame(channel: string, action: PresenceAction, member: PresenceMember, timestamp: number): PresenceEventFrame {
  const frame: PresenceEventFrame = {
    t: 'presEvt',
    channel,
    action,
    clientId: member.clientId,
    connectionId: member.connectionId,
    timestamp,
  };
  if (member.data !== undefined) frame.data = member.data;
  if (member.encoding !== undefined) frame.encoding = member.encoding;
  return frame;
}

/** A platform event as sent to topic subscribers: the event, and its position for resuming. */
export function eventFrame(m: StoredMessage): EventFrame {
  return m.seq === undefined ? { t: 'evt', event: m.data as RealtimeEvent } : { t: 'evt', event: m.data as RealtimeEvent, seq: m.seq };
}
