/**
 * The checker on hand-made histories: a clean one passes, and each kind of anomaly is found (and only
 * it), with the events around it.
 */
import { describe, expect, it } from 'vitest';
import { check, formatAnomalies, type AnomalyKind } from './checker.js';
import type { ChaosEvent } from './history.js';

const OPTIONS = { presenceBoundMs: 5000 };

/** A little language for histories: each call appends one event, one ms after the last. */
function story() {
  const events: ChaosEvent[] = [];
  let t = 0;
  const add = (e: Record<string, unknown>) => {
    events.push({ ...e, t: (t += 1) } as ChaosEvent);
    return api;
  };
  const api = {
    events,
    connected: (process: string, gen: number) => add({ kind: 'connected', process, gen }),
    attached: (process: string, gen: number, discontinuity = false, channel = 'c') => add({ kind: 'attached', process, channel, gen, discontinuity }),
    invoke: (msgId: string, attempt = 1, channel = 'c') => add({ kind: 'invoke', process: 'pub', channel, msgId, attempt }),
    ok: (msgId: string, serial: number, attempt = 1, channel = 'c') => add({ kind: 'ok', process: 'pub', channel, msgId, attempt, serial }),
    err: (msgId: string, code = 50001, attempt = 1, channel = 'c') => add({ kind: 'err', process: 'pub', channel, msgId, attempt, code }),
    deliver: (process: string, gen: number, msgId: string, serial: number, channel = 'c') => add({ kind: 'deliver', process, channel, gen, msgId, serial }),
    fault: (fault: string) => add({ kind: 'fault', fault }),
    end: (process: string) => add({ kind: 'end', process }),
    history: (entries: Array<[string, number]>, channel = 'c', retained?: number) =>
      add({ kind: 'history', channel, entries: entries.map(([msgId, serial]) => ({ msgId, serial })), ...(retained !== undefined ? { retained } : {}) }),
    presence: (expected: string[], actual: string[], sinceQuietMs = 100, channel = 'c') => add({ kind: 'presence', channel, observer: 'rest', expected, actual, sinceQuietMs }),
  };
  return api;
}

/** Two publishes seen by one subscriber, stored once each: nothing wrong. */
function clean() {
  return story()
    .connected('sub', 1)
    .attached('sub', 1)
    .invoke('m1')
    .ok('m1', 1)
    .deliver('sub', 1, 'm1', 1)
    .invoke('m2')
    .ok('m2', 2)
    .deliver('sub', 1, 'm2', 2);
}

function kinds(events: ChaosEvent[]): AnomalyKind[] {
  return check(events, OPTIONS).anomalies.map((a) => a.kind);
}

describe('chaos checker', () => {
  it('finds nothing wrong in a clean history, and counts what it checked', () => {
    const s = clean().end('sub').history([['m1', 1], ['m2', 2]]).presence(['a', 'b'], ['b', 'a']);
    const summary = check(s.events, OPTIONS);
    expect(summary.anomalies).toEqual([]);
    expect(summary).toMatchObject({ publishes: 2, acknowledged: 2, deliveries: 2, discontinuities: 0 });
  });

  it('order: a serial at or below the last one', () => {
    const s = story().connected('sub', 1).attached('sub', 1).invoke('m1').ok('m1', 1).invoke('m2').ok('m2', 2).deliver('sub', 1, 'm2', 2).deliver('sub', 1, 'm1', 1);
    expect(kinds(s.events)).toEqual(['order']);
  });

  it('duplicate: the same message twice, also across a resume that said resumed', () => {
    const s = clean().connected('sub', 2).deliver('sub', 2, 'm2', 2).attached('sub', 2, false);
    const summary = check(s.events, OPTIONS);
    expect(summary.anomalies.map((a) => a.kind)).toEqual(['duplicate']);
    expect(summary.anomalies[0]).toMatchObject({ process: 'sub', msgId: 'm2' });
    expect(formatAnomalies(summary.anomalies)).toContain('ANOMALY duplicate on c: sub got m2 (serial 2) twice');
  });

  it('a discontinuity starts over: the replay before its ack may repeat and go back', () => {
    const s = clean().connected('sub', 2).deliver('sub', 2, 'm1', 1).deliver('sub', 2, 'm2', 2).attached('sub', 2, true);
    expect(kinds(s.events)).toEqual([]);
  });

  it('a discontinuity told on a live connection (as the Foony SDK does after its gap-filling fetch) starts over in a generation of its own', () => {
    // The harness gives it a new generation without a reconnect: what comes after may go back and repeat.
    const s = clean().attached('sub', 2, true).deliver('sub', 2, 'm1', 1).deliver('sub', 2, 'm2', 2);
    expect(kinds(s.events)).toEqual([]);
    // Without the new generation the same deliveries are duplicates.
    expect(kinds(clean().deliver('sub', 1, 'm2', 2).events)).toEqual(['duplicate']);
  });

  it('unexpected-discontinuity: one told on a channel whose history keeps everything', () => {
    const told = () => clean().connected('sub', 2).attached('sub', 2, true);
    expect(kinds(told().history([['m1', 1], ['m2', 2]]).events)).toEqual(['unexpected-discontinuity']);
    // A bounded history may well have moved past the subscriber's cursor.
    expect(kinds(told().history([['m1', 1], ['m2', 2]], 'c', 2).events)).toEqual([]);
  });

  it('lost-at-subscriber: an acked publish made while attached never arrived', () => {
    const s = clean().fault('sigkill node 1').invoke('m3').ok('m3', 3).connected('sub', 2).attached('sub', 2).end('sub');
    const summary = check(s.events, OPTIONS);
    expect(summary.anomalies.map((a) => a.kind)).toEqual(['lost-at-subscriber']);
    // The fault is among the events shown around it.
    expect(summary.anomalies[0]!.around.some((e) => e.kind === 'fault')).toBe(true);
  });

  it('a loss is excused by a discontinuity told after the publish began, not by one before it', () => {
    const excused = clean().invoke('m3').ok('m3', 3).connected('sub', 2).attached('sub', 2, true).end('sub');
    expect(kinds(excused.events)).toEqual([]);
    const notExcused = clean().connected('sub', 2).attached('sub', 2, true).invoke('m3').ok('m3', 3).end('sub');
    expect(kinds(notExcused.events)).toEqual(['lost-at-subscriber']);
  });

  it('a publish begun before the first attach, or acked after the end, is not owed to the subscriber', () => {
    const s = story().invoke('m0').connected('sub', 1).attached('sub', 1).ok('m0', 1).invoke('m1').end('sub').ok('m1', 2);
    expect(kinds(s.events)).toEqual([]);
  });

  it('lost-from-history: an acked publish missing from history', () => {
    const s = clean().history([['m1', 1]]);
    expect(kinds(s.events)).toEqual(['lost-from-history']);
  });

  it('a bounded history may have trimmed the oldest acked publishes, not the newer ones', () => {
    const three = () => clean().invoke('m3').ok('m3', 3).deliver('sub', 1, 'm3', 3);
    expect(kinds(three().history([['m2', 2], ['m3', 3]], 'c', 2).events)).toEqual([]);
    expect(kinds(three().history([['m3', 3]], 'c', 2).events)).toEqual(['lost-from-history']);
  });

  it('duplicate-in-history: stored twice, acked or not; an errored publish stored once is fine', () => {
    expect(kinds(clean().history([['m1', 1], ['m2', 2], ['m2', 3]]).events)).toEqual(['duplicate-in-history']);
    const errored = clean().invoke('m3').err('m3').invoke('m4').err('m4');
    expect(kinds(errored.history([['m1', 1], ['m2', 2], ['m3', 3]]).events)).toEqual([]);
    expect(kinds(errored.history([['m1', 1], ['m2', 2], ['m4', 3], ['m4', 4]]).events)).toEqual(['duplicate-in-history']);
  });

  it('a publish retried after an error under the same id counts once, acked by the attempt that got through', () => {
    const s = story().invoke('m1', 1).err('m1', 50001, 1).invoke('m1', 2).ok('m1', 1, 2).history([['m1', 1]]);
    const summary = check(s.events, OPTIONS);
    expect(summary.anomalies).toEqual([]);
    expect(summary).toMatchObject({ publishes: 1, acknowledged: 1 });
  });

  it('serial-mismatch: ack, delivery and history disagree on a serial', () => {
    expect(kinds(clean().history([['m1', 1], ['m2', 7]]).events)).toEqual(['serial-mismatch']);
    const s = story().connected('sub', 1).attached('sub', 1).invoke('m1').ok('m1', 1).deliver('sub', 1, 'm1', 4);
    expect(kinds(s.events)).toEqual(['serial-mismatch']);
  });

  it('phantom: history holds a message nobody published', () => {
    expect(kinds(clean().history([['m1', 1], ['m2', 2], ['zz', 3]]).events)).toEqual(['phantom']);
  });

  it('presence: diverged, or agreed later than the bound', () => {
    expect(kinds(story().presence(['a', 'b'], ['a']).events)).toEqual(['presence-diverged']);
    expect(kinds(story().presence(['a'], ['a', 'ghost']).events)).toEqual(['presence-diverged']);
    // A client listed twice: one of its connections is a ghost.
    expect(kinds(story().presence(['a', 'b'], ['a', 'b', 'a']).events)).toEqual(['presence-diverged']);
    expect(kinds(story().presence(['a'], ['a'], 9000).events)).toEqual(['presence-slow']);
  });

  it('keeps channels apart', () => {
    const s = clean().invoke('x1', 1, 'other').ok('x1', 1, 1, 'other').end('sub').history([['x1', 1]], 'other').history([['m1', 1], ['m2', 2]]);
    expect(kinds(s.events)).toEqual([]);
  });
});
