import type { PresenceAction, PresenceEventFrame, PresenceMember } from '@hubbub/protocol';
import type { PresenceChange } from './engine.js';

/**
 * The two ways a presence change is seen (a dialect's `presenceView`): by client id, where a member
 * is reference-counted by its connections, and by connection, where each connection is a member.
 */

/** The change as watchers by client id see it (call only when `change.action` is set). */
export function clientViewFrame(channel: string, change: Pick<PresenceChange, 'action' | 'member' | 'timestamp'> & { pseq?: number }): PresenceEventFrame {
  const frame = presenceEventFrame(channel, change.action!, change.member, change.timestamp);
  if (change.pseq) frame.pseq = change.pseq;
  return frame;
}

/** The change as watchers by connection see it (call only when `change.hold` is set). */
export function connectionViewFrame(channel: string, change: PresenceChange): PresenceEventFrame {
  return presenceEventFrame(channel, change.hold!, change.holder, change.timestamp);
}

/** A member already present, as an enter, for a watcher by connection that has just subscribed. */
export function presentFrame(channel: string, { timestamp, ...member }: PresenceMember & { timestamp: number }): PresenceEventFrame {
  return presenceEventFrame(channel, 'enter', member, timestamp);
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
