/**
 * The history of a chaos run: every operation a client invoked and how it ended, every message a
 * subscriber received, every fault the harness applied, and what the server said at the end (history,
 * presence). The checker (checker.ts) reads it afterwards; nothing here judges anything.
 *
 * Times are ms since the recorder started (performance.now()), so the order of two events of one
 * process is the order they happened in.
 */

/** A publish attempt began. `msgId` is the stable message id, the same on every attempt of one publish. */
export interface InvokeEvent {
  kind: 'invoke';
  t: number;
  process: string;
  channel: string;
  msgId: string;
  attempt: number;
}

/** A publish attempt was acknowledged with its serial. */
export interface OkEvent {
  kind: 'ok';
  t: number;
  process: string;
  channel: string;
  msgId: string;
  attempt: number;
  serial?: number;
  duplicate?: boolean;
}

/** A publish attempt failed with an error code (or never settled before the end: code 0). */
export interface ErrEvent {
  kind: 'err';
  t: number;
  process: string;
  channel: string;
  msgId: string;
  attempt: number;
  code: number;
}

/** A subscriber's connection (SDK socket, SSE stream) came up: deliveries after it carry this `gen`. */
export interface ConnectedEvent {
  kind: 'connected';
  t: number;
  process: string;
  gen: number;
  node?: number;
}

/** A subscriber's channel (re)attached; `discontinuity` when the server said it could not resume. */
export interface AttachedEvent {
  kind: 'attached';
  t: number;
  process: string;
  channel: string;
  gen: number;
  discontinuity: boolean;
}

/** A subscriber received a message. */
export interface DeliverEvent {
  kind: 'deliver';
  t: number;
  process: string;
  channel: string;
  gen: number;
  msgId: string;
  serial?: number;
}

/** The subscriber stopped observing (closed by the harness at the end). */
export interface EndEvent {
  kind: 'end';
  t: number;
  process: string;
}

export interface FaultEvent {
  kind: 'fault';
  t: number;
  fault: string;
  target?: string;
  detail?: string;
}

/** The channel's whole retained history, read after the run (REST, oldest first). */
export interface HistoryEvent {
  kind: 'history';
  t: number;
  channel: string;
  /** The channel's history limit, when it is small enough to trim what a run publishes: older serials are gone by design. */
  retained?: number;
  entries: Array<{ msgId: string; serial: number }>;
}

/** Presence once the faults stopped: who should be present, who is, and how long it took to agree. */
export interface PresenceEvent {
  kind: 'presence';
  t: number;
  channel: string;
  /** Who looked: the REST API, or a watching SDK connection. */
  observer: string;
  /** Client ids that should be present, one per live connection. */
  expected: string[];
  /** Client ids listed, one per connection the server holds present. */
  actual: string[];
  /** From the end of the faults to this observation. */
  sinceQuietMs: number;
}

export interface NoteEvent {
  kind: 'note';
  t: number;
  text: string;
}

export type ChaosEvent =
  | InvokeEvent
  | OkEvent
  | ErrEvent
  | ConnectedEvent
  | AttachedEvent
  | DeliverEvent
  | EndEvent
  | FaultEvent
  | HistoryEvent
  | PresenceEvent
  | NoteEvent;

type WithoutTime<E> = E extends unknown ? Omit<E, 't'> : never;

/** Appends events, stamping each with the time since the recorder was made. */
export class HistoryRecorder {
  readonly events: ChaosEvent[] = [];
  private readonly start = performance.now();

  now(): number {
    return Math.round((performance.now() - this.start) * 10) / 10;
  }

  record(event: WithoutTime<ChaosEvent>): ChaosEvent {
    const stamped = { ...event, t: this.now() } as ChaosEvent;
    this.events.push(stamped);
    return stamped;
  }

  /** One JSON event a line, for a file a failing run leaves behind. */
  toJsonLines(): string {
    return this.events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  }
}

export function parseJsonLines(text: string): ChaosEvent[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ChaosEvent);
}
