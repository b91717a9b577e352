import { FrameError, type MessageFrame, type PresenceEventFrame } from '@hubbub/protocol';
import type { Dialect } from '../../core/dialect.js';
import type { Outbound } from '../../core/outbound.js';
import { channelKind } from './channel-names.js';
import { dataToPusher } from './event-data.js';
import { isReservedEvent, pusherCloseCode, pusherEvent } from './protocol.js';

/**
 * The Pusher dialect's encoding of what many connections share (messages, presence changes), made
 * once per frame for every Pusher subscriber (`Outbound` memo). It is fixed by the endpoint
 * (`/app/{key}`): it never claims a first message, and its connections are `PusherSession`s, not
 * `Session`s, so `decode` and `encode` are never asked for.
 */
export const pusherJson: Dialect = {
  name: 'pusher',
  binary: false,
  claims: () => false,
  decode: () => [new FrameError('Pusher connections are read by their PusherSession')],
  looksLikeAuth: () => false,
  encode: (frame) => pusherEvent('pusher:error', undefined, { code: null, message: frame.t }),
  encodeShared: (out: Outbound) => {
    const frame = out.frame;
    if (frame.t === 'msg') return messageEvent(frame);
    if (frame.t === 'presEvt') return memberEvent(frame);
    // Platform events (topics) have no Pusher form.
    return undefined;
  },
  closeCode: pusherCloseCode,
  policy: {
    presenceView: 'client',
    renewal: 'reconnect',
    resumesPresence: false,
    unsubscribeLeavesPresence: true,
    directMessages: false,
    refusesOversizedPerRequest: false,
    reconnectsWhenUnavailable: false,
  },
};

/**
 * A message as a channel event. A batch (one publish of several members) is not one event: see
 * `batchEvents`. Names Pusher reserves have no form: pusher-js would read one as its own protocol.
 */
function messageEvent(frame: MessageFrame): string | undefined {
  if (frame.messages !== undefined) return undefined;
  return channelEvent(frame, frame.name, frame.data);
}

function channelEvent(frame: MessageFrame, name: string, data: unknown): string | undefined {
  if (isReservedEvent(name)) return undefined;
  // Pusher adds the sender's user id to client events on presence channels only.
  const userId = frame.clientId !== undefined && name.startsWith('client-') && channelKind(frame.channel) === 'presence' ? { user_id: frame.clientId } : undefined;
  return pusherEvent(name, frame.channel, dataToPusher(data), userId);
}

/** What `batchEvents` keeps in an Outbound's memo. */
const BATCH = {};

/**
 * A batch (one publish of several members, as the binary dialect's SDK sends even a single
 * publish) as one Pusher event per member, in order: Pusher has one event per WebSocket message.
 * Made once per frame, shared by every Pusher subscriber; undefined for a message that is not a batch.
 */
export function batchEvents(out: Outbound): readonly string[] | undefined {
  const frame = out.frame;
  if (frame.t !== 'msg' || frame.messages === undefined) return undefined;
  const members = frame.messages;
  return out.memo(BATCH, () => members.flatMap((m) => channelEvent(frame, m.name, m.data) ?? []));
}

/** Members by user id: one added on its first connection, removed with its last; an update has no Pusher form. */
function memberEvent(frame: PresenceEventFrame): string | undefined {
  if (frame.action === 'enter') return pusherEvent('pusher_internal:member_added', frame.channel, frame.data === undefined ? { user_id: frame.clientId } : { user_id: frame.clientId, user_info: frame.data });
  if (frame.action === 'leave') return pusherEvent('pusher_internal:member_removed', frame.channel, { user_id: frame.clientId });
  return undefined;
}
