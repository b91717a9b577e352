import { describe, expect, it } from 'vitest';
import { Admission, messageBound, pendingMessageBound } from '../src/transport/admission.js';

/** A connection that ignores being evicted. */
const quiet = { evict() {} };

describe('Admission', () => {
  it('counts a connection as pending until it is promoted, then as authenticated until released', () => {
    const admission = new Admission({ maxConnections: 2, maxPending: 2 });
    const ticket = admission.admit(quiet);
    expect([admission.pending, admission.authenticated]).toEqual([1, 0]);
    expect(ticket.promote('app')).toBe(true);
    expect(ticket.authenticated).toBe(true);
    expect([admission.pending, admission.authenticated]).toEqual([0, 1]);
    ticket.release();
    ticket.release();
    expect([admission.pending, admission.authenticated]).toEqual([0, 0]);
  });

  it('past maxConnections a promote fails and the connection stays pending until released', () => {
    const admission = new Admission({ maxConnections: 1, maxPending: 5 });
    expect(admission.admit(quiet).promote('app')).toBe(true);
    const late = admission.admit(quiet);
    expect(late.promote('app')).toBe(false);
    expect(late.authenticated).toBe(false);
    expect(admission.counters.refusedFull).toBe(1);
    expect([admission.pending, admission.authenticated]).toEqual([1, 1]);
    late.release();
    expect([admission.pending, admission.authenticated]).toEqual([0, 1]);
    // A released ticket never takes a place again.
    expect(late.promote('app')).toBe(false);
    expect(admission.authenticated).toBe(1);
  });

  it('when the pending budget is full, a new connection evicts the oldest pending one, never an authenticated one', () => {
    const admission = new Admission({ maxConnections: 10, maxPending: 2 });
    const evicted: string[] = [];
    const holder = (name: string) => ({ evict: () => evicted.push(name) });
    const a = admission.admit(holder('a'));
    const b = admission.admit(holder('b'));
    expect(a.promote('app')).toBe(true); // a is authenticated now: b is the oldest pending
    admission.admit(holder('c'));
    expect(evicted).toEqual([]);
    admission.admit(holder('d'));
    expect(evicted).toEqual(['b']);
    expect([admission.pending, admission.authenticated]).toEqual([2, 1]);
    expect(admission.counters.pendingEvicted).toBe(1);
    // The evicted ticket's place is gone: releasing it (its socket closing later) changes nothing.
    b.release();
    expect(b.promote('app')).toBe(false);
    expect([admission.pending, admission.authenticated]).toEqual([2, 1]);
  });

  it('sockets that never authenticate cannot keep real clients out of maxConnections', () => {
    const admission = new Admission({ maxConnections: 20, maxPending: 10 });
    for (let i = 0; i < 200; i++) admission.admit(quiet);
    for (let i = 0; i < 20; i++) expect(admission.admit(quiet).promote('app'), `real client ${i}`).toBe(true);
    expect(admission.admit(quiet).promote('app'), 'the 21st').toBe(false);
    expect(admission.pending).toBe(10);
  });
});

describe('message bounds', () => {
  it('transports read four times --max-payload; before auth, twice the auth-frame limit at most', () => {
    expect(messageBound(64 * 1024)).toBe(256 * 1024);
    expect(pendingMessageBound(32 * 1024, 64 * 1024)).toBe(64 * 1024);
    expect(pendingMessageBound(32 * 1024, 1024)).toBe(4 * 1024);
  });
});

describe('Admission per app', () => {
  it('one app holds at most maxPerApp places; other apps still get theirs; a release makes room', () => {
    const admission = new Admission({ maxConnections: 10, maxPending: 10, maxPerApp: 3 });
    const quiet = { evict() {} };
    const greedy = [0, 1, 2].map(() => admission.admit(quiet));
    for (const t of greedy) expect(t.promote('greedy')).toBe(true);
    const fourth = admission.admit(quiet);
    expect(fourth.promote('greedy'), 'the 4th of one app').toBe(false);
    expect(admission.admit(quiet).promote('other'), 'another app').toBe(true);
    greedy[0].release();
    expect(fourth.promote('greedy'), 'after one left').toBe(true);
    expect(admission.authenticated).toBe(4);
  });
});
