/** Who an entry of the log was sent to. */
export type Audience = { kind: 'all' } | { kind: 'channel'; channel: string } | { kind: 'user'; userId: string };

export interface LoggedEvent {
  seq: number;
  audience: Audience;
  event: string;
  data: unknown;
}

/**
 * The recent events of a `createRealtime` instance, numbered, so an SSE client that comes back with
 * `Last-Event-ID` gets what it missed. Bounded: older events are forgotten.
 */
export class EventLog {
  private readonly entries: LoggedEvent[] = [];
  private seq = 0;

  constructor(private readonly capacity: number) {}

  append(audience: Audience, event: string, data: unknown): LoggedEvent {
    const entry = { seq: ++this.seq, audience, event, data };
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.shift();
    return entry;
  }

  /**
   * Events after `lastSeq` for a listener in `channels` as `userId`. `complete` is false when the
   * log no longer reaches back that far, or `lastSeq` is from the future (another instance).
   */
  since(lastSeq: number, channels: Set<string>, userId?: string): { events: LoggedEvent[]; complete: boolean } {
    const oldest = this.entries[0]?.seq ?? this.seq + 1;
    const complete = lastSeq <= this.seq && lastSeq + 1 >= oldest;
    const events = this.entries.filter((e) => e.seq > lastSeq && reaches(e.audience, channels, userId));
    return { events: lastSeq > this.seq ? [] : events, complete };
  }
}

function reaches(audience: Audience, channels: Set<string>, userId?: string): boolean {
  if (audience.kind === 'all') return true;
  if (audience.kind === 'channel') return channels.has(audience.channel);
  return audience.userId === userId;
}
