/**
 * Reads the history of a chaos run (history.ts) and reports every place where Hubbub broke a promise
 * of docs/protocol.md and docs/scale-out.md:
 *
 * - order: per channel, each subscriber sees serials strictly increasing (a discontinuity starts over);
 * - duplicate: no subscriber sees a message twice, except around a discontinuity, where what is
 *   retained is replayed (docs/protocol.md, "otherwise: what is retained is replayed");
 * - lost-at-subscriber: every acknowledged publish first invoked after the subscriber's first attach
 *   and acknowledged before it stopped observing reached it, unless it was told of a discontinuity
 *   after the publish began;
 * - lost-from-history / duplicate-in-history: an acknowledged publish is in the channel's history
 *   exactly once (unless a bounded history trimmed it); one that errored (or never settled) at most once;
 * - serial-mismatch: the serial of a publish's ack, of its deliveries and of its history entry agree;
 * - phantom: history holds nothing nobody published;
 * - unexpected-discontinuity: a subscriber told of a discontinuity on a channel whose history keeps
 *   everything the run published (an unbounded `history` event): its resume was inside the window;
 * - presence-diverged / presence-slow: after the faults stop, presence equals the live members, and
 *   got there within the documented bound.
 */
import type { AttachedEvent, ChaosEvent, DeliverEvent, HistoryEvent, InvokeEvent, OkEvent, PresenceEvent } from './history.js';

export type AnomalyKind =
  | 'order'
  | 'duplicate'
  | 'lost-at-subscriber'
  | 'lost-from-history'
  | 'duplicate-in-history'
  | 'serial-mismatch'
  | 'phantom'
  | 'unexpected-discontinuity'
  | 'presence-diverged'
  | 'presence-slow';

export interface Anomaly {
  kind: AnomalyKind;
  channel: string;
  process?: string;
  msgId?: string;
  message: string;
  /** The events around the anomaly, for a reader to see what happened. */
  around: ChaosEvent[];
}

/** How many anomalies get the events around them (formatAnomalies prints the first 20). */
const CONTEXT_FOR = 100;

export interface CheckOptions {
  /** How long presence may take to agree after the faults stop (docs/scale-out.md: node TTL plus a reaper round). */
  presenceBoundMs: number;
  /** Events shown on each side of an anomaly. */
  context?: number;
}

export interface CheckSummary {
  publishes: number;
  acknowledged: number;
  /** Publish attempts that failed, by error code. */
  errors: Record<number, number>;
  deliveries: number;
  /** (subscriber, acknowledged publish) pairs where the publish was owed to the subscriber. */
  owed: number;
  discontinuities: number;
  faults: number;
  anomalies: Anomaly[];
}

/** What one publish (all its attempts under one message id) came to. */
interface Publish {
  msgId: string;
  channel: string;
  process: string;
  firstInvoke: InvokeEvent;
  ack?: OkEvent;
}

export function check(events: ChaosEvent[], options: CheckOptions): CheckSummary {
  const anomalies: Anomaly[] = [];
  const context = options.context ?? 6;
  // Finding the events around one anomaly reads the whole history: past the first ones (more than a
  // report prints) an anomaly keeps only its own events, so a run with thousands is still checked in seconds.
  const around = (focus: ChaosEvent[], filter?: (e: ChaosEvent) => boolean): ChaosEvent[] =>
    anomalies.length < CONTEXT_FOR ? surrounding(events, focus, context, filter) : focus;
  const publishes = collectPublishes(events);

  const owed = checkSubscribers(events, publishes, anomalies, around);
  checkHistories(events, publishes, anomalies, around);
  checkDiscontinuities(events, anomalies, around);
  checkPresence(events, options.presenceBoundMs, anomalies);

  return {
    publishes: publishes.size,
    acknowledged: [...publishes.values()].filter((p) => p.ack).length,
    errors: countErrors(events),
    owed,
    deliveries: events.filter((e) => e.kind === 'deliver').length,
    discontinuities: events.filter((e) => e.kind === 'attached' && e.discontinuity).length,
    faults: events.filter((e) => e.kind === 'fault').length,
    anomalies,
  };
}

function collectPublishes(events: ChaosEvent[]): Map<string, Publish> {
  const publishes = new Map<string, Publish>();
  for (const e of events) {
    if (e.kind === 'invoke' && !publishes.has(e.msgId)) publishes.set(e.msgId, { msgId: e.msgId, channel: e.channel, process: e.process, firstInvoke: e });
    if (e.kind === 'ok') {
      const p = publishes.get(e.msgId);
      if (p && !p.ack) p.ack = e;
    }
  }
  return publishes;
}

type Around = (focus: ChaosEvent[], filter?: (e: ChaosEvent) => boolean) => ChaosEvent[];

/** Every (subscriber, channel) pair: its deliveries, attaches and end. */
function subscriptions(events: ChaosEvent[]): Map<string, { process: string; channel: string; deliveries: DeliverEvent[]; attaches: AttachedEvent[]; end?: number }> {
  const subs = new Map<string, { process: string; channel: string; deliveries: DeliverEvent[]; attaches: AttachedEvent[]; end?: number }>();
  const ends = new Map<string, number>();
  const get = (process: string, channel: string) => {
    const key = `${process}\u0000${channel}`;
    let sub = subs.get(key);
    if (!sub) subs.set(key, (sub = { process, channel, deliveries: [], attaches: [] }));
    return sub;
  };
  for (const e of events) {
    if (e.kind === 'deliver') get(e.process, e.channel).deliveries.push(e);
    else if (e.kind === 'attached') get(e.process, e.channel).attaches.push(e);
    else if (e.kind === 'end') ends.set(e.process, e.t);
  }
  for (const sub of subs.values()) sub.end = ends.get(sub.process);
  return subs;
}

function countErrors(events: ChaosEvent[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const e of events) if (e.kind === 'err') counts[e.code] = (counts[e.code] ?? 0) + 1;
  return counts;
}

/** Returns how many acknowledged publishes were owed to subscribers, in all. */
function checkSubscribers(events: ChaosEvent[], publishes: Map<string, Publish>, anomalies: Anomaly[], around: Around): number {
  let owed = 0;
  for (const sub of subscriptions(events).values()) {
    const { process, channel } = sub;
    // This subscriber's events on this channel (and its connections, which name no channel), and the faults.
    const mine = (e: ChaosEvent) => e.kind === 'fault' || ('process' in e && e.process === process && (!('channel' in e) || e.channel === channel));
    // Generations whose attach said discontinuity: the replay before that ack starts a new segment.
    const restarts = new Set(sub.attaches.filter((a) => a.discontinuity).map((a) => a.gen));
    let last: DeliverEvent | undefined;
    let seen = new Set<string>();
    let segmentGen: number | undefined;
    for (const d of sub.deliveries) {
      if (d.gen !== segmentGen && restarts.has(d.gen)) {
        seen = new Set();
        last = undefined;
      }
      segmentGen = d.gen;
      if (seen.has(d.msgId)) {
        anomalies.push({ kind: 'duplicate', channel, process, msgId: d.msgId, message: `${process} got ${d.msgId} (serial ${d.serial}) twice`, around: around([d], mine) });
      } else if (last?.serial !== undefined && d.serial !== undefined && d.serial <= last.serial) {
        anomalies.push({ kind: 'order', channel, process, msgId: d.msgId, message: `${process} got serial ${d.serial} after ${last.serial}`, around: around([last, d], mine) });
      }
      seen.add(d.msgId);
      if (d.serial !== undefined) last = d;
      const acked = publishes.get(d.msgId)?.ack;
      if (acked?.serial !== undefined && d.serial !== undefined && acked.serial !== d.serial) {
        anomalies.push({ kind: 'serial-mismatch', channel, process, msgId: d.msgId, message: `${d.msgId} acked with serial ${acked.serial}, delivered to ${process} as ${d.serial}`, around: around([acked, d]) });
      }
    }
    owed += checkNothingLost(sub, publishes, anomalies, around, mine);
  }
  return owed;
}

function checkNothingLost(
  sub: { process: string; channel: string; deliveries: DeliverEvent[]; attaches: AttachedEvent[]; end?: number },
  publishes: Map<string, Publish>,
  anomalies: Anomaly[],
  around: Around,
  mine: (e: ChaosEvent) => boolean,
): number {
  const firstAttach = sub.attaches[0];
  if (!firstAttach) return 0;
  let owed = 0;
  const got = new Set(sub.deliveries.map((d) => d.msgId));
  const discontinuities = sub.attaches.filter((a) => a.discontinuity).map((a) => a.t);
  for (const p of publishes.values()) {
    if (p.channel !== sub.channel || !p.ack) continue;
    if (p.firstInvoke.t < firstAttach.t) continue;
    if (sub.end !== undefined && p.ack.t > sub.end) continue;
    owed++;
    if (got.has(p.msgId)) continue;
    if (discontinuities.some((t) => t > p.firstInvoke.t)) continue;
    anomalies.push({
      kind: 'lost-at-subscriber',
      channel: sub.channel,
      process: sub.process,
      msgId: p.msgId,
      message: `${sub.process} never got ${p.msgId} (acked serial ${p.ack.serial} at ${p.ack.t} ms) and was told of no discontinuity`,
      around: around([p.firstInvoke, p.ack], (e) => mine(e) || ('msgId' in e && e.msgId === p.msgId)),
    });
  }
  return owed;
}

function checkHistories(events: ChaosEvent[], publishes: Map<string, Publish>, anomalies: Anomaly[], around: Around): void {
  const histories = events.filter((e): e is HistoryEvent => e.kind === 'history');
  for (const history of histories) {
    const counts = new Map<string, Array<{ msgId: string; serial: number }>>();
    for (const entry of history.entries) {
      const list = counts.get(entry.msgId) ?? [];
      list.push(entry);
      counts.set(entry.msgId, list);
      if (!publishes.has(entry.msgId)) {
        anomalies.push({ kind: 'phantom', channel: history.channel, msgId: entry.msgId, message: `history of ${history.channel} holds ${entry.msgId} (serial ${entry.serial}), which nobody published`, around: [history] });
      }
    }
    // A bounded history keeps the last `retained` serials: what is older was trimmed, not lost.
    const head = Math.max(0, ...history.entries.map((e) => e.serial), ...[...publishes.values()].filter((p) => p.channel === history.channel).map((p) => p.ack?.serial ?? 0));
    const trimmed = (serial: number | undefined) => history.retained !== undefined && serial !== undefined && serial <= head - history.retained;
    for (const p of publishes.values()) {
      if (p.channel !== history.channel) continue;
      const found = counts.get(p.msgId) ?? [];
      const story = () => around([p.firstInvoke, ...(p.ack ? [p.ack] : [])], (e) => e.kind === 'fault' || ('msgId' in e && e.msgId === p.msgId));
      if (found.length > 1) {
        anomalies.push({ kind: 'duplicate-in-history', channel: p.channel, msgId: p.msgId, message: `${p.msgId} is in history ${found.length} times (serials ${found.map((f) => f.serial).join(', ')})${p.ack ? '' : ' though it was never acked'}`, around: story() });
      } else if (p.ack && found.length === 0 && !trimmed(p.ack.serial)) {
        anomalies.push({ kind: 'lost-from-history', channel: p.channel, msgId: p.msgId, message: `${p.msgId} was acked (serial ${p.ack.serial}) but is not in history`, around: story() });
      } else if (p.ack?.serial !== undefined && found.length === 1 && found[0]!.serial !== p.ack.serial) {
        anomalies.push({ kind: 'serial-mismatch', channel: p.channel, msgId: p.msgId, message: `${p.msgId} acked with serial ${p.ack.serial}, in history as ${found[0]!.serial}`, around: story() });
      }
    }
  }
}

function checkDiscontinuities(events: ChaosEvent[], anomalies: Anomaly[], around: Around): void {
  const unbounded = new Set(events.filter((e): e is HistoryEvent => e.kind === 'history' && e.retained === undefined).map((e) => e.channel));
  for (const e of events) {
    if (e.kind !== 'attached' || !e.discontinuity || !unbounded.has(e.channel)) continue;
    const theirs = (x: ChaosEvent) => x.kind === 'fault' || ('process' in x && x.process === e.process && (!('channel' in x) || x.channel === e.channel));
    anomalies.push({ kind: 'unexpected-discontinuity', channel: e.channel, process: e.process, message: `${e.process} was told of a discontinuity on ${e.channel}, whose history keeps everything`, around: around([e], theirs) });
  }
}

function checkPresence(events: ChaosEvent[], boundMs: number, anomalies: Anomaly[]): void {
  for (const p of events.filter((e): e is PresenceEvent => e.kind === 'presence')) {
    // One entry per connection present: a client listed twice has a ghost connection, so compare as multisets.
    const missing = without(p.expected, p.actual);
    const extra = without(p.actual, p.expected);
    if (missing.length || extra.length) {
      anomalies.push({ kind: 'presence-diverged', channel: p.channel, message: `presence of ${p.channel} as ${p.observer} sees it ${p.sinceQuietMs} ms after the faults: missing [${missing.join(', ')}], extra [${extra.join(', ')}]`, around: [p] });
    } else if (p.sinceQuietMs > boundMs) {
      anomalies.push({ kind: 'presence-slow', channel: p.channel, message: `presence of ${p.channel} as ${p.observer} sees it agreed only ${p.sinceQuietMs} ms after the faults (bound ${boundMs} ms)`, around: [p] });
    }
  }
}

/** What is in `a` and not in `b`, counting repeats. */
function without(a: string[], b: string[]): string[] {
  const left = [...b];
  return a.filter((x) => {
    const at = left.indexOf(x);
    if (at < 0) return true;
    left.splice(at, 1);
    return false;
  });
}

/** The events within `context` places of the focus events (among those the filter keeps). */
function surrounding(events: ChaosEvent[], focus: ChaosEvent[], context: number, filter: (e: ChaosEvent) => boolean = () => true): ChaosEvent[] {
  const kept = events.filter((e) => filter(e) || focus.includes(e));
  const picked = new Set<ChaosEvent>();
  for (const f of focus) {
    const at = kept.indexOf(f);
    if (at < 0) continue;
    for (let i = Math.max(0, at - context); i <= Math.min(kept.length - 1, at + context); i++) picked.add(kept[i]!);
  }
  return kept.filter((e) => picked.has(e));
}

export function formatEvent(e: ChaosEvent): string {
  const { kind, t, ...rest } = e;
  if (kind === 'history') return `${t.toFixed(1).padStart(9)} history ${e.channel}: ${e.entries.length} entries`;
  return `${t.toFixed(1).padStart(9)} ${kind} ${JSON.stringify(rest)}`;
}

/** The anomalies as text, each with the events around it. */
export function formatAnomalies(anomalies: Anomaly[], limit = 20): string {
  const out: string[] = [];
  for (const a of anomalies.slice(0, limit)) {
    out.push(`ANOMALY ${a.kind} on ${a.channel}: ${a.message}`);
    for (const e of a.around) out.push(`    ${formatEvent(e)}`);
  }
  if (anomalies.length > limit) out.push(`… and ${anomalies.length - limit} more`);
  return out.join('\n');
}
