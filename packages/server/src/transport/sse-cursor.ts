import { createHash } from 'node:crypto';

/**
 * The resume cursor of an SSE stream, carried by every event's `id:` line, so that one
 * `Last-Event-ID` resumes every channel of the stream at once, on any node sharing the engine:
 *
 *   v1,<tag>:<seq>:<epoch>[,<tag>:<seq>:<epoch>…]
 *
 * one entry per channel, in the stream's order: `tag` is 8 base64url characters (the first 48 bits of
 * the SHA-256 of the channel name, so a long name costs no more than a short one), `seq` the last
 * serial the stream sent on it, `epoch` the engine's epoch of that channel's stream, URI-encoded.
 * Entries are found by tag, not by place: a stream opened with other channels still resumes the ones
 * it shares with the cursor. Nothing in it is secret or trusted: it says where to resume, as a `sub`
 * frame's `lastSerial` and `epoch` do, and every channel is checked against the token all the same.
 */

/** Channels one stream may carry (fewer when --max-subscriptions is lower): bounds the `id:` each event carries. */
export const MAX_SSE_CHANNELS = 64;

/** Longer `Last-Event-ID`s are not cursors of this server (the longest it writes is about 3 KiB). */
export const MAX_CURSOR_LENGTH = 8 * 1024;

const VERSION = 'v1';
const MAX_EPOCH_LENGTH = 64;
const ENTRY = /^([A-Za-z0-9_-]{8}):(0|[1-9][0-9]{0,15}):([A-Za-z0-9._~!*'()%-]{1,64})$/;

export interface ChannelPosition {
  seq: number;
  epoch: string;
}

/** What a `Last-Event-ID` said: positions by channel tag. */
export type ParsedCursor = ReadonlyMap<string, ChannelPosition>;

/** A channel's stand-in in a cursor. */
export function channelTag(channel: string): string {
  return createHash('sha256').update(channel).digest().subarray(0, 6).toString('base64url');
}

/** The positions a `Last-Event-ID` holds; undefined for anything that is not a cursor of this server. */
export function parseCursor(text: string | undefined): ParsedCursor | undefined {
  if (!text || text.length > MAX_CURSOR_LENGTH || !text.startsWith(`${VERSION},`)) return undefined;
  const entries = text.slice(VERSION.length + 1).split(',');
  if (entries.length > MAX_SSE_CHANNELS) return undefined;
  const positions = new Map<string, ChannelPosition>();
  for (const entry of entries) {
    const m = ENTRY.exec(entry);
    if (!m) return undefined;
    const [, tag, digits, encoded] = m;
    const seq = Number(digits);
    if (!Number.isSafeInteger(seq) || positions.has(tag)) return undefined;
    let epoch: string;
    try {
      epoch = decodeURIComponent(encoded);
    } catch {
      return undefined;
    }
    if (epoch.length === 0 || epoch.length > MAX_EPOCH_LENGTH) return undefined;
    positions.set(tag, { seq, epoch });
  }
  return positions;
}

/** The positions of one stream's channels, and their `id:` text, rebuilt only when a position moved. */
export class StreamCursor {
  private readonly tags: string[];
  private readonly positions: Array<ChannelPosition | undefined>;
  private readonly parts: string[];
  private cached?: string;

  constructor(readonly channels: readonly string[]) {
    this.tags = channels.map(channelTag);
    this.positions = channels.map(() => undefined);
    this.parts = channels.map(() => '');
  }

  /**
   * Where each channel resumes from, by what `parsed` holds for it: undefined for a channel it does not
   * name (or, should two of the stream's channels share a tag, for both of them).
   */
  resumeFrom(parsed: ParsedCursor | undefined): Array<ChannelPosition | undefined> {
    return this.tags.map((tag) => {
      const position = parsed?.get(tag);
      if (!position || this.tags.indexOf(tag) !== this.tags.lastIndexOf(tag)) return undefined;
      return { seq: position.seq, epoch: position.epoch };
    });
  }

  position(index: number): ChannelPosition | undefined {
    return this.positions[index];
  }

  set(index: number, position: ChannelPosition): void {
    this.positions[index] = { seq: position.seq, epoch: position.epoch };
    this.parts[index] = `${this.tags[index]}:${position.seq}:${encodeURIComponent(position.epoch)}`;
    this.cached = undefined;
  }

  /** The channel's stream moved on to `seq` (same epoch). */
  advance(index: number, seq: number): void {
    const position = this.positions[index];
    if (position) this.set(index, { seq, epoch: position.epoch });
  }

  /** The `id:` text: every channel that has a position. */
  get text(): string {
    if (this.cached !== undefined) return this.cached;
    let text = VERSION;
    for (const part of this.parts) if (part) text += `,${part}`;
    return (this.cached = text);
  }
}
