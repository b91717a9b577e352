import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SseCounters } from './sse-options.js';

/**
 * Writing an event stream: text is queued per stream and flushed after the callback that produced it,
 * one write per stream per turn; a stream with too much unsent is cut; a catch-up can wait for the
 * socket to drain.
 */

/** The streams with text queued, flushed together once the current callback is done. */
export class FlushScheduler {
  private dirty: EventStreamWriter[] = [];
  private scheduled = false;

  markDirty(writer: EventStreamWriter): void {
    this.dirty.push(writer);
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(this.flushAll);
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const writer of dirty) writer.flush();
  };
}

/** What a writer shares with the other streams of its transport. */
export interface WriterHost {
  readonly options: { readonly maxBufferedBytes: number };
  readonly counters: SseCounters;
  readonly flushes: FlushScheduler;
}

/** The stream a writer writes for: text is queued only until it ends, and written only while it is open. */
export interface WriterOwner {
  readonly isOpen: boolean;
  readonly isEnded: boolean;
  /** Too much waits unsent: the reader is too slow to keep. */
  cut(why: string): void;
}

export class EventStreamWriter {
  /** When text last went out: heartbeats go to streams quiet for long. */
  lastWrite = 0;
  private queue: string[] = [];
  private scheduled = false;
  private drains: Array<() => void> = [];

  constructor(
    private readonly owner: WriterOwner,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly host: WriterHost,
  ) {}

  /** Queue text; it goes out with the stream's next flush. */
  write(text: string): void {
    if (this.owner.isEnded) return;
    this.queue.push(text);
    if (this.scheduled) return;
    this.scheduled = true;
    this.host.flushes.markDirty(this);
  }

  /** Write out what is queued, in one write; cut the stream when too much waits unsent. */
  flush(): void {
    this.scheduled = false;
    if (!this.owner.isOpen || this.queue.length === 0) return;
    const text = this.queue.length === 1 ? this.queue[0] : this.queue.join('');
    const counters = this.host.counters;
    counters.eventsOut += this.queue.length;
    this.queue = [];
    counters.bytesOut += text.length;
    this.res.write(text);
    this.lastWrite = Date.now();
    if (this.res.writableLength > this.host.options.maxBufferedBytes) this.owner.cut('unsent bytes past --max-buffered');
  }

  /** Resolves true once what is queued has mostly gone out, false after `timeoutMs` or when the stream ends. */
  drain(timeoutMs: number): Promise<boolean> {
    this.flush();
    const low = this.host.options.maxBufferedBytes / 4;
    if (this.res.writableLength <= low) return Promise.resolve(this.owner.isOpen);
    return new Promise((resolve) => {
      const socket = this.req.socket;
      const done = (ok: boolean) => {
        clearTimeout(timer);
        clearInterval(poll);
        socket.off('drain', check);
        this.drains = this.drains.filter((d) => d !== gone);
        resolve(ok);
      };
      const check = () => {
        if (!this.owner.isOpen) done(false);
        else if (this.res.writableLength <= low) done(true);
      };
      const gone = () => done(false);
      const timer = setTimeout(gone, timeoutMs);
      // 'drain' comes only after a write the socket refused; the poll covers the rest.
      const poll = setInterval(check, 50);
      socket.on('drain', check);
      this.drains.push(gone);
    });
  }

  /** The stream ended: what is queued never goes out, and every wait for a drain gives up. */
  stop(): void {
    this.queue = [];
    for (const gone of [...this.drains]) gone();
  }
}
