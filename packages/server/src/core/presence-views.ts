import type { PresenceAction, PresenceEventFrame, PresenceMember } from '@hubbub/protocol';
import type { PresenceChange, PresenceOutcome } from './engine.js';

/**
 * The two ways a presence change is seen (a dialect's `presenceView`): by connection, where each
 * connection is a member, and by client id, where a member is reference-counted by its connections.
 * Engines report one model, the connection's hold (`PresenceChange`); the view by client id is derived
 * here, and only here.
 */

/** What watchers by client id see of a change. */
export interface ClientView {
  action: PresenceAction;
  /** The member as they see it: on leave, as it was last shown. */
  member: PresenceMember;
}

/**
 * The view by client id, from what the client shows before and after a change: it enters when its first
 * connection enters, leaves when its last one lets go, and updates when the data it shows (its latest
 * hold's) changes, whichever connection that is. Null when nothing changed for watchers by client id.
 */
export function clientView({ before, after }: PresenceChange['shown']): ClientView | null {
  if (!before) return after ? { action: 'enter', member: after } : null;
  if (!after) return { action: 'leave', member: before };
  return samePresenceData(before, after) ? null : { action: 'update', member: after };
}

/** Whether anyone sees the change: its hold changed, or what its client shows did. Engines announce only these. */
export function seenByAnyone(change: Pick<PresenceChange, 'hold' | 'shown'>): boolean {
  return change.hold !== null || clientView(change.shown) !== null;
}

/** A change as both kinds of watchers see it. */
export interface PresenceViews {
  pseq: number;
  timestamp: number;
  /** What watchers by client id see; null when nothing changed for them. */
  action: PresenceAction | null;
  /** The member as watchers by client id see it (when `action` is null: as the client shows it now). */
  member: PresenceMember;
  /** What watchers by connection see: what happened to the one connection's hold; null when nothing. */
  hold: PresenceAction | null;
  /** That connection's member (on leave: with its last data). */
  holder: PresenceMember;
}

export function presenceViews(change: PresenceChange): PresenceViews {
  const { pseq, timestamp, hold, holder, shown } = change;
  const seen = clientView(shown);
  return { pseq, action: seen?.action ?? null, member: seen?.member ?? shown.after ?? holder, timestamp, hold, holder };
}

/** What one presence call did as watchers by client id see it (what a presence ack reports), and its serial. */
export interface ClientOutcome {
  action: PresenceAction | null;
  pseq: number;
}

export function clientOutcome({ pseq, change }: PresenceOutcome): ClientOutcome {
  return { action: change ? (clientView(change.shown)?.action ?? null) : null, pseq };
}

/** Same data and encoding (what watchers would see), whatever the time. */
export function samePresenceData(a: { data?: unknown; encoding?: string }, b: { data?: unknown; encoding?: string }): boolean {
  return a.encoding === b.encoding && JSON.stringify(a.data) === JSON.stringify(b.data);
}

/** The change as watchers by client id see it (call only when `views.action` is set). */
export function clientViewFrame(channel: string, views: Pick<PresenceViews, 'action' | 'member' | 'timestamp'> & { pseq?: number }): PresenceEventFrame {
  const frame = presenceEventFrame(channel, views.action!, views.member, views.timestamp);
  if (views.pseq) frame.pseq = views.pseq;
  return frame;
}

/** The change as watchers by connection see it (call only when `change.hold` is set). */
export function connectionViewFrame(channel: string, change: Pick<PresenceChange, 'hold' | 'holder' | 'timestamp'>): PresenceEventFrame {
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
