import { describe, expect, it } from 'vitest';
import type { PresenceChange } from '../src/core/engine.js';
import { presenceViews } from '../src/core/presence-views.js';
import { decodePresenceChange, encodePresenceChange } from '../src/engine/redis-presence-wire.js';

const phone = { clientId: 'ann', connectionId: 'phone', data: 'online' };
const laptop = { clientId: 'ann', connectionId: 'laptop', data: 'away' };

describe('presence changes on the Redis pub/sub', () => {
  it('cross as they were reported', () => {
    const change: PresenceChange = { pseq: 7, timestamp: 1000, hold: 'leave', holder: laptop, shown: { before: laptop, after: phone } };
    expect(decodePresenceChange(encodePresenceChange(change).slice(1))).toEqual(change);
  });

  it('carry the view by client id too, for nodes of earlier versions that read it off the wire', () => {
    const change: PresenceChange = { pseq: 7, timestamp: 1000, hold: 'leave', holder: laptop, shown: { before: laptop, after: phone } };
    expect(JSON.parse(encodePresenceChange(change).slice(1))).toMatchObject({ action: 'update', member: phone, hold: 'leave', holder: laptop });
  });

  // What a node of an earlier version sent: the view by client id, with the hold or (the oldest) without.
  const legacy = [
    { action: 'enter', member: phone, hold: 'enter', holder: phone },
    { action: 'update', member: phone, hold: 'leave', holder: laptop },
    { action: 'update', member: { ...phone, encoding: 'json' }, hold: 'update', holder: { ...phone, encoding: 'json' } },
    { action: 'update', member: { ...phone, encoding: '' }, hold: 'update', holder: { ...phone, encoding: '' } },
    { action: null, member: laptop, hold: 'enter', holder: laptop },
    { action: 'leave', member: phone, hold: 'leave', holder: phone },
    { action: 'leave', member: phone, hold: null, holder: phone },
  ];
  it.each(legacy)('from an earlier version, are seen as that node saw them: %o', (wire) => {
    const views = presenceViews(decodePresenceChange(JSON.stringify({ pseq: 3, timestamp: 1000, ...wire })));
    expect({ action: views.action, hold: views.hold, holder: views.holder, timestamp: views.timestamp, pseq: views.pseq }).toEqual({ action: wire.action, hold: wire.hold, holder: wire.holder, timestamp: 1000, pseq: 3 });
    if (wire.action) expect(views.member).toEqual(wire.member);
  });

  it('from the oldest versions, without a hold: the change by client id is the connection\'s too', () => {
    const views = presenceViews(decodePresenceChange(JSON.stringify({ pseq: 3, timestamp: 1000, action: 'update', member: phone })));
    expect(views).toEqual({ pseq: 3, timestamp: 1000, action: 'update', member: phone, hold: 'update', holder: phone });
  });
});
