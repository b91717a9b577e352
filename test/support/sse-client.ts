/**
 * A Server-Sent Events client for Node tests, on a streaming `fetch`: it parses the stream the way
 * the HTML standard's EventSource does (fields, comments, the last event ID buffer that an `id:` line
 * sets even on a block with no data), so what a test sees is what a browser's EventSource would see.
 */

export interface SseEvent {
  /** The event type (`message` when the block had no `event:` line). */
  event: string;
  data: string;
  /** The stream's last event ID when this event was dispatched (as `MessageEvent.lastEventId`). */
  lastEventId: string;
  /** Whether the block itself had an `id:` line. */
  hadId: boolean;
}

export interface SseOpenOptions {
  headers?: Record<string, string>;
  /** Sent as `Last-Event-ID`, as an EventSource does on a reconnect. */
  lastEventId?: string;
  /** Called with each event as it is dispatched (a chaos reader records it with its time). */
  onEvent?: (event: SseEvent) => void;
  /** Called with each comment line (`: heartbeat`), so a reader can tell a live stream from a stalled one. */
  onComment?: (text: string) => void;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** The last event ID buffer, as an EventSource keeps it. */
  lastEventId = '';
  retry?: number;
  /** Resolves when the server ends the stream (or the client closes it). */
  readonly ended: Promise<void>;
  private readonly controller: AbortController;
  private buffer = '';
  private data: string[] = [];
  private type = '';
  private sawId = false;
  private endedCleanly = false;

  private constructor(
    readonly response: Response,
    controller: AbortController,
    private readonly hooks: Pick<SseOpenOptions, 'onEvent' | 'onComment'> = {},
  ) {
    this.controller = controller;
    this.ended = response.ok && response.headers.get('content-type')?.startsWith('text/event-stream') ? this.read() : Promise.resolve();
  }

  static async open(url: string, options: SseOpenOptions = {}): Promise<SseClient> {
    const controller = new AbortController();
    const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const response = await fetch(url, { headers, signal: controller.signal });
    return new SseClient(response, controller, options);
  }

  get status(): number {
    return this.response.status;
  }

  /** True once the server ended the stream by itself (not an abort by the test). */
  get serverEnded(): boolean {
    return this.endedCleanly;
  }

  /** Events of the given type, their data parsed as JSON. */
  json<T = Record<string, unknown>>(type?: string): T[] {
    return this.events.filter((e) => type === undefined || e.event === type).map((e) => JSON.parse(e.data) as T);
  }

  close(): void {
    this.controller.abort();
  }

  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        this.feed(decoder.decode(chunk, { stream: true }));
      }
      this.endedCleanly = true;
    } catch {
      // aborted, or the connection was cut
    }
  }

  private feed(text: string): void {
    this.buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A lone CR at the end may be the first half of a CRLF: wait for the next chunk.
      if (!m || (m[0] === '\r' && m.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      const text = line.slice(1).trimStart();
      this.comments.push(text);
      return void this.hooks.onComment?.(text);
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) {
      this.lastEventId = value;
      this.sawId = true;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }

  private dispatch(): void {
    const hadId = this.sawId;
    this.sawId = false;
    if (this.data.length === 0) {
      this.type = '';
      return;
    }
    const event = { event: this.type || 'message', data: this.data.join('\n'), lastEventId: this.lastEventId, hadId };
    this.events.push(event);
    this.hooks.onEvent?.(event);
    this.data = [];
    this.type = '';
  }
}
