import type { PresenceAction, PresenceMember } from '@hubbub/protocol';
import type { PresenceChange } from '../core/engine.js';
import { presenceViews, type PresenceViews } from '../core/presence-views.js';

/**
 * A presence change as it crosses a channel's pub/sub (`p` + JSON). Nodes of earlier versions read the
 * view by client id (`action`, `member`) off the wire instead of deriving it, and send changes without
 * `shown` (the oldest ones without `hold` too): both are kept, so nodes of two versions can share a Redis
 * while a deployment rolls over.
 */
export function encodePresenceChange(change: PresenceChange): string {
  const { action, member } = presenceViews(change);
  return `p${JSON.stringify({ ...change, action, member })}`;
}

/** The change in a pub/sub payload, its leading `p` taken off. */
export function decodePresenceChange(json: string): PresenceChange {
  const wire = JSON.parse(json) as Partial<PresenceChange & PresenceViews>;
  const { pseq = 0, timestamp } = wire;
  if (wire.shown) return { pseq, timestamp: timestamp!, hold: wire.hold ?? null, holder: wire.holder!, shown: wire.shown };
  // From a node of an earlier version: it said what watchers by client id see (and maybe nothing of the hold).
  const action = wire.action ?? null;
  const member = wire.member!;
  const hold = 'hold' in wire ? (wire.hold ?? null) : action;
  return { pseq, timestamp: timestamp!, hold, holder: wire.holder ?? member, shown: shownFor(action, member) };
}

/** What the client showed before and after a change said only as the view by client id (see `clientView`). */
function shownFor(action: PresenceAction | null, member: PresenceMember): PresenceChange['shown'] {
  if (action === 'enter') return { after: member };
  if (action === 'leave') return { before: member };
  if (action === 'update') {
    // All that is known of the member before is that it showed other data: this one differs in its
    // encoding alone. It is only compared, never shown.
    const { encoding, ...rest } = member;
    return { before: encoding === undefined ? { ...rest, encoding: '' } : rest, after: member };
  }
  return { before: member, after: member };
}
