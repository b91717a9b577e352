import { expect } from 'vitest';
import type { PresenceMember } from '@hubbub/protocol';
import { clientOutcome, seenByAnyone, type PresenceViews } from '../../../src/core/presence-views.js';
import type { DefineCase } from '../suite.js';
import { CH } from '../fixtures.js';

const clientView = (changes: PresenceViews[]) => changes.filter((c) => c.action !== null).map((c) => [c.action, c.member]);
const connectionView = (changes: PresenceViews[]) => changes.filter((c) => c.hold !== null).map((c) => [c.hold, c.holder]);
const byClientId = (members: PresenceMember[]) => [...members].sort((a, b) => a.clientId.localeCompare(b.clientId));

/** Members by client id as a list of changes leaves them. */
function apply(members: PresenceMember[], changes: PresenceViews[]): PresenceMember[] {
  const out = new Map(members.map((m) => [m.clientId, m]));
  for (const c of changes) {
    if (c.action === 'leave') out.delete(c.member.clientId);
    else if (c.action) out.set(c.member.clientId, c.member);
  }
  return byClientId([...out.values()]);
}

/** Presence by client id and by connection, its serials, `presenceSync` and `presenceSnapshot`. */
export function presenceCases(test: DefineCase): void {
  test('emits enter, update and leave, ref-counted by connection', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    // Watchers by client id see the changes with an action; every change also says what happened
    // to the one connection's hold (watchers by connection, Foony's SDK, see those).
    const t0 = Date.now();
    await n.engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'phone', data: 'online' });
    await n.engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'laptop', data: 'online' });
    await n.engine.presenceEnter(CH, { clientId: 'bob', connectionId: 'b1' });
    const entered = await n.announced(CH, 3);
    const t1 = Date.now();
    expect(entered.filter((c) => c.action !== null)).toEqual([
      { pseq: expect.any(Number), action: 'enter', member: { clientId: 'alice', connectionId: 'phone', data: 'online' }, timestamp: expect.any(Number), hold: 'enter', holder: { clientId: 'alice', connectionId: 'phone', data: 'online' } },
      { pseq: expect.any(Number), action: 'enter', member: { clientId: 'bob', connectionId: 'b1' }, timestamp: expect.any(Number), hold: 'enter', holder: { clientId: 'bob', connectionId: 'b1' } },
    ]);
    for (const c of entered) {
      expect(c.timestamp).toBeGreaterThanOrEqual(t0);
      expect(c.timestamp).toBeLessThanOrEqual(t1);
    }
    expect(connectionView(entered).map(([action, m]) => [action, (m as { connectionId: string }).connectionId])).toEqual([
      ['enter', 'phone'],
      ['enter', 'laptop'],
      ['enter', 'b1'],
    ]);
    expect((await n.engine.presenceMembers(CH)).map((m) => m.clientId).sort()).toEqual(['alice', 'bob']);

    await n.engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'laptop', data: 'away' });
    const updated = (await n.announced(CH, 4)).slice(3);
    expect(clientView(updated)).toEqual([['update', { clientId: 'alice', connectionId: 'laptop', data: 'away' }]]);
    expect(connectionView(updated)).toEqual([['update', { clientId: 'alice', connectionId: 'laptop', data: 'away' }]]);

    await n.engine.presenceLeave(CH, 'alice', 'laptop'); // phone still holds alice: her data goes back to 'online'
    await n.engine.presenceLeave(CH, 'alice', 'phone');
    const left = (await n.announced(CH, 6)).slice(4);
    expect(clientView(left)).toEqual([
      ['update', { clientId: 'alice', connectionId: 'phone', data: 'online' }],
      ['leave', { clientId: 'alice', connectionId: 'phone', data: 'online' }],
    ]);
    expect(connectionView(left)).toEqual([
      ['leave', { clientId: 'alice', connectionId: 'laptop', data: 'away' }],
      ['leave', { clientId: 'alice', connectionId: 'phone', data: 'online' }],
    ]);
    expect(await n.engine.presenceMembers(CH)).toEqual([{ clientId: 'bob', connectionId: 'b1' }]);
  });

  test('reports one model: the hold and what its client shows; announces only what someone sees, as its outcome says', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    const c1 = { clientId: 'ann', connectionId: 'c1', data: 'x' };
    const c2 = { clientId: 'ann', connectionId: 'c2', data: 'x' };
    const outcomes = [
      await n.engine.presenceEnter(CH, c1),
      await n.engine.presenceEnter(CH, c1), // the same again: nothing changed for anyone
      await n.engine.presenceEnter(CH, c2), // a connection of its own; the client shows the same data
      await n.engine.presenceLeave(CH, 'ann', 'c1'),
      await n.engine.presenceLeave(CH, 'ann', 'c2'),
    ];
    expect(outcomes.map((o) => o.change !== undefined)).toEqual([true, false, true, true, true]);
    expect(outcomes[1].pseq).toBe(outcomes[0].pseq);
    await n.announced(CH, 4);
    const reported = n.presence.map((p) => p.reported);
    expect(reported).toEqual(outcomes.flatMap((o) => (o.change ? [o.change] : [])));
    expect(reported.every(seenByAnyone)).toBe(true);
    expect(reported.map((c) => [c.hold, c.holder, c.shown])).toEqual([
      ['enter', c1, { after: c1 }],
      ['enter', c2, { before: c1, after: c2 }],
      ['leave', c1, { before: c2, after: c2 }],
      ['leave', c2, { before: c2 }],
    ]);
    expect(n.changes(CH).map((c) => c.action)).toEqual(['enter', null, null, 'leave']);
  });

  test('a leave that matches nothing is silent', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    await n.engine.listen('app/nowhere');
    await n.engine.presenceLeave('app/nowhere', 'alice', 'c1');
    await n.engine.presenceEnter(CH, { clientId: 'alice', connectionId: 'c1' });
    await n.engine.presenceLeave(CH, 'alice', 'c2');
    await n.engine.presenceEnter(CH, { clientId: 'marker', connectionId: 'm1' });
    await n.announced(CH, 2);
    expect(n.presence.map((p) => [p.channelKey, p.change.action, p.change.member.clientId])).toEqual([
      [CH, 'enter', 'alice'],
      [CH, 'enter', 'marker'],
    ]);
    expect(await n.engine.presenceMembers('app/nowhere')).toEqual([]);
  });

  test('keeps presence per channel', {}, async ({ node }) => {
    const { engine } = await node();
    await engine.presenceEnter('app/a', { clientId: 'alice', connectionId: 'c1' });
    expect(await engine.presenceMembers('app/a')).toHaveLength(1);
    expect(await engine.presenceMembers('app/b')).toEqual([]);
    expect(await engine.presenceSnapshot('app/b')).toEqual([]);
  });

  test('a connection leaving while another holds the member: update to the remaining data, then leave', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    const announced = () => n.changes(CH).filter((c) => c.action !== null);
    expect(clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'phone', data: 'phone' })).action).toBe('enter');
    // The hold written later speaks for the member, however soon after the first.
    expect(clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'laptop', data: 'laptop' })).action).toBe('update');
    const partial = clientOutcome(await n.engine.presenceLeave(CH, 'ann', 'laptop'));
    expect(partial.action).toBe('update');
    expect((await n.engine.presenceSync(CH)).members).toEqual([{ clientId: 'ann', connectionId: 'phone', data: 'phone' }]);
    const last = clientOutcome(await n.engine.presenceLeave(CH, 'ann', 'phone'));
    expect(last.action).toBe('leave');
    await n.announced(CH, 4);
    const changes = announced();
    expect(changes.map((c) => [c.action, c.member.data])).toEqual([
      ['enter', 'phone'],
      ['update', 'laptop'],
      ['update', 'phone'],
      ['leave', 'phone'],
    ]);
    const serials = changes.map((c) => c.pseq);
    expect([...serials].sort((a, b) => a - b)).toEqual(serials);
    expect(new Set(serials).size).toBe(4);
    expect(last.pseq).toBe(serials[3]);
    expect((await n.engine.presenceSync(CH)).pseq).toBe(last.pseq);
  });

  test('the connection written last speaks for the member, however close together the writes', {}, async ({ node }) => {
    const { engine } = await node();
    for (let round = 0; round < 20; round++) {
      const [one, two] = await Promise.all([
        engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: `one-${round}` }),
        engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c2', data: `two-${round}` }),
      ]);
      // The serial says which write came last.
      const last = one.pseq > two.pseq ? { connectionId: 'c1', data: `one-${round}` } : { connectionId: 'c2', data: `two-${round}` };
      expect(await engine.presenceMembers(CH)).toEqual([{ clientId: 'ann', ...last }]);
      // Its leave hands the member to the other connection.
      const other = last.connectionId === 'c1' ? { connectionId: 'c2', data: `two-${round}` } : { connectionId: 'c1', data: `one-${round}` };
      expect(clientOutcome(await engine.presenceLeave(CH, 'ann', last.connectionId))).toMatchObject({ action: 'update' });
      expect(await engine.presenceMembers(CH)).toEqual([{ clientId: 'ann', ...other }]);
      await engine.presenceLeave(CH, 'ann', other.connectionId);
    }
  });

  test('a leave that matches nothing changes nothing and moves no serial', {}, async ({ node }) => {
    const { engine } = await node();
    const before = (await engine.presenceSync(CH)).pseq;
    expect(clientOutcome(await engine.presenceLeave(CH, 'nobody', 'c1'))).toEqual({ action: null, pseq: before });
    await engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1' });
    const entered = (await engine.presenceSync(CH)).pseq;
    expect(clientOutcome(await engine.presenceLeave(CH, 'ann', 'c2'))).toEqual({ action: null, pseq: entered });
    expect(clientOutcome(await engine.presenceLeave(CH, 'nobody', 'c1'))).toEqual({ action: null, pseq: entered });
  });

  test('presenceSnapshot lists every connection with the time of its last enter or update', {}, async ({ node, clock }) => {
    const time = clock();
    const { engine } = await node();
    const t0 = Date.now();
    await engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: { mood: 'ok' } });
    await time.elapse(20);
    const t1 = Date.now();
    await engine.presenceEnter(CH, { clientId: 'ben', connectionId: 'c2' });
    const snap = await engine.presenceSnapshot(CH);
    const byClient = Object.fromEntries(snap.map((m) => [m.clientId, m]));
    expect(byClient.ann).toEqual({ clientId: 'ann', connectionId: 'c1', data: { mood: 'ok' }, timestamp: expect.any(Number) });
    expect(byClient.ann.timestamp).toBeGreaterThanOrEqual(t0);
    expect(byClient.ann.timestamp).toBeLessThan(t1);
    expect(byClient.ben.timestamp).toBeGreaterThanOrEqual(t1);

    await time.elapse(20);
    const t2 = Date.now();
    await engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: { mood: 'busy' } });
    const updated = (await engine.presenceSnapshot(CH)).find((m) => m.clientId === 'ann')!;
    expect(updated.data).toEqual({ mood: 'busy' });
    expect(updated.timestamp).toBeGreaterThanOrEqual(t2);

    // A second connection of ann's is a member of its own here, not in presenceMembers.
    await engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c3', data: { mood: 'busy' } });
    expect((await engine.presenceSnapshot(CH)).filter((m) => m.clientId === 'ann').map((m) => m.connectionId).sort()).toEqual(['c1', 'c3']);
    expect((await engine.presenceMembers(CH)).filter((m) => m.clientId === 'ann')).toHaveLength(1);
    await engine.presenceLeave(CH, 'ann', 'c3');

    // presenceMembers keeps its shape: no timestamp.
    expect((await engine.presenceMembers(CH)).find((m) => m.clientId === 'ann')).toEqual({ clientId: 'ann', connectionId: 'c1', data: { mood: 'busy' } });
    await engine.presenceLeave(CH, 'ben', 'c2');
    expect((await engine.presenceSnapshot(CH)).map((m) => m.clientId)).toEqual(['ann']);
    expect(await engine.presenceSnapshot('app/nobody-here')).toEqual([]);
  });

  test('watchers by connection see every connection as its own member', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    expect(clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: { x: 1 } }))).toMatchObject({ action: 'enter' });
    expect(clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c2', data: { x: 1 } }))).toMatchObject({ action: null });
    // Entering again with the same data changes nothing for anyone.
    expect(clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c2', data: { x: 1 } }))).toMatchObject({ action: null });
    expect(clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: { x: 2 } }))).toMatchObject({ action: 'update' });
    expect(clientOutcome(await n.engine.presenceLeave(CH, 'ann', 'c1'))).toMatchObject({ action: 'update' });
    expect(clientOutcome(await n.engine.presenceLeave(CH, 'ann', 'c2'))).toMatchObject({ action: 'leave' });
    await n.engine.presenceEnter(CH, { clientId: 'marker', connectionId: 'm1' });
    const changes = await n.announced(CH, 6);
    expect(changes.at(-1)!.member.clientId).toBe('marker');
    const ann = changes.slice(0, -1);
    expect(connectionView(ann)).toEqual([
      ['enter', { clientId: 'ann', connectionId: 'c1', data: { x: 1 } }],
      ['enter', { clientId: 'ann', connectionId: 'c2', data: { x: 1 } }],
      ['update', { clientId: 'ann', connectionId: 'c1', data: { x: 2 } }],
      ['leave', { clientId: 'ann', connectionId: 'c1', data: { x: 2 } }],
      ['leave', { clientId: 'ann', connectionId: 'c2', data: { x: 1 } }],
    ]);
    expect(clientView(ann)).toEqual([
      ['enter', { clientId: 'ann', connectionId: 'c1', data: { x: 1 } }],
      ['update', { clientId: 'ann', connectionId: 'c1', data: { x: 2 } }],
      ['update', { clientId: 'ann', connectionId: 'c2', data: { x: 1 } }],
      ['leave', { clientId: 'ann', connectionId: 'c2', data: { x: 1 } }],
    ]);
  });

  test('presence serials grow with every change, are at least its time in microseconds, and stand still otherwise', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    const t0 = Date.now();
    const entered = clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: 'a' }));
    expect(entered.pseq).toBeGreaterThanOrEqual(t0 * 1000);
    expect(clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: 'a' }))).toEqual({ action: null, pseq: entered.pseq });
    const updated = clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'c1', data: 'b' }));
    const other = clientOutcome(await n.engine.presenceEnter(CH, { clientId: 'ben', connectionId: 'c2' }));
    const left = clientOutcome(await n.engine.presenceLeave(CH, 'ann', 'c1'));
    const outcomes = [entered, updated, other, left];
    expect(outcomes.map((o) => o.action)).toEqual(['enter', 'update', 'enter', 'leave']);
    for (let i = 1; i < outcomes.length; i++) expect(outcomes[i].pseq).toBeGreaterThan(outcomes[i - 1].pseq);
    expect((await n.engine.presenceSync(CH)).pseq).toBe(left.pseq);
    expect((await n.announced(CH, 4)).map((c) => c.pseq)).toEqual(outcomes.map((o) => o.pseq));
  });

  test('presenceSync is consistent with the changes: those above its serial came after, the rest are in it', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    // Six clients each enter, update, leave and enter again, all at once; a sync is taken midway.
    let changes = 0;
    const lives = Array.from({ length: 6 }, async (_, i) => {
      const member = { clientId: `c${i}`, connectionId: `conn-${i}` };
      await n.engine.presenceEnter(CH, { ...member, data: 'first' });
      await n.engine.presenceEnter(CH, { ...member, data: 'second' });
      await n.engine.presenceLeave(CH, member.clientId, member.connectionId);
      await n.engine.presenceEnter(CH, { ...member, data: i });
      changes += 4;
    });
    await Promise.resolve();
    const sync = await n.engine.presenceSync(CH);
    await Promise.all(lives);
    const all = [...(await n.announced(CH, changes))].sort((a, b) => a.pseq - b.pseq);
    expect(new Set(all.map((c) => c.pseq)).size).toBe(all.length);
    expect(apply([], all.filter((c) => c.pseq <= sync.pseq))).toEqual(byClientId(sync.members));
    const final = apply(sync.members, all.filter((c) => c.pseq > sync.pseq));
    expect(final).toEqual(byClientId(await n.engine.presenceMembers(CH)));
    expect(final.map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test('keeps any encoding label as given, line breaks and separators included', {}, async ({ node }) => {
    const n = await node();
    await n.engine.listen(CH);
    const odd = 'json\nutf-8|%0A\r\n';
    await n.engine.presenceEnter(CH, { clientId: 'eve', connectionId: 'e1', data: { a: 1 }, encoding: odd });
    await n.engine.presenceEnter(CH, { clientId: 'eve', connectionId: 'e2', data: { a: 1 }, encoding: odd });
    await n.engine.presenceEnter(CH, { clientId: 'bob', connectionId: 'b1', data: 'hi', encoding: 'plain' });
    expect(clientView(await n.announced(CH, 3))).toEqual([
      ['enter', { clientId: 'eve', connectionId: 'e1', data: { a: 1 }, encoding: odd }],
      ['enter', { clientId: 'bob', connectionId: 'b1', data: 'hi', encoding: 'plain' }],
    ]);
    expect(byClientId((await n.engine.presenceSync(CH)).members).map((m) => m.encoding)).toEqual(['plain', odd]);
    expect((await n.engine.presenceSnapshot(CH)).map((m) => m.encoding).sort()).toEqual([odd, odd, 'plain'].sort());
    await n.engine.presenceLeave(CH, 'eve', 'e2');
    await n.engine.presenceLeave(CH, 'eve', 'e1');
    expect(clientView((await n.announced(CH, 5)).slice(3))).toEqual([['leave', { clientId: 'eve', connectionId: 'e1', data: { a: 1 }, encoding: odd }]]);
  });
}
