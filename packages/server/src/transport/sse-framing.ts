import type { HubbubError, MessageFrame } from '@hubbub/protocol';

/**
 * The text of an event stream: message events, the cursor's `id:` blocks, the stream's other
 * blocks and comments, and the headers of a stream and of a refusal.
 */

/** The `retry:` an EventSource waits before reconnecting: spread over this range so a crowd comes back spread out. */
const RETRY_MIN_MS = 1_000;
const RETRY_SPREAD_MS = 2_000;

/** A refusal for a full server says when to try again. */
const RETRY_AFTER_SECONDS = '5';

/** A message name that would break the stream's lines is sent as the default event type; `data.name` keeps it exact. */
const DEFAULT_EVENT = 'message';

/** What a quiet stream gets, so neither side nor a proxy takes it for dead. */
export const HEARTBEAT = ': heartbeat\n\n';

export function streamHeaders(): Record<string, string> {
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
    // A stream is never followed by another request on its socket.
    connection: 'close',
  };
}

/** The first block: the reconnect delay (spread at random), and the cursor alone. */
export function openingBlock(id: string): string {
  const retry = RETRY_MIN_MS + Math.floor(Math.random() * RETRY_SPREAD_MS);
  return `retry: ${retry}\nid: ${id}\n\n`;
}

/** The cursor alone, or the end of a message's last block (which `eventBlocks` leaves open). */
export function idBlock(id: string): string {
  return `id: ${id}\n\n`;
}

/** Messages of `channel` may be missing before what follows. */
export function discontinuityBlock(id: string, channel: string): string {
  return `event: discontinuity\nid: ${id}\ndata: ${JSON.stringify({ channel })}\n\n`;
}

/** Why the server ends the stream (an EventSource shows none of it). */
export function closingComment(reason: string): string {
  return `: closing: ${reason}\n\n`;
}

export function refusalHeaders(err: HubbubError): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (err.statusCode === 401) headers['www-authenticate'] = 'Bearer';
  if (err.statusCode === 503) headers['retry-after'] = RETRY_AFTER_SECONDS;
  return headers;
}

/** A coded JSON error, as the HTTP API answers. */
export function refusalBody(err: HubbubError): string {
  return JSON.stringify({ error: err.toJSON() });
}

/**
 * A message's event blocks, less the blank line that ends the last one (the stream puts its `id:`
 * there first): one event per message, or per member of a batch, named after it; its data is the
 * message as JSON, which never holds a raw line break.
 */
export function eventBlocks(frame: MessageFrame): string {
  const members = frame.messages;
  if (!members || members.length === 0) return block(frame.name, payload(frame, frame.name, frame.data, frame.encoding));
  let text = '';
  members.forEach((m, i) => {
    text += block(m.name, payload(frame, m.name, m.data, m.encoding));
    if (i < members.length - 1) text += '\n';
  });
  return text;
}

function block(name: string, json: string): string {
  return `event: ${name === '' || /[\r\n]/.test(name) ? DEFAULT_EVENT : name}\ndata: ${json}\n`;
}

/** The message as SSE clients read it: channel, name, data, id (the message id), seq, clientId, timestamp. */
function payload(frame: MessageFrame, name: string, data: unknown, encoding: string | undefined): string {
  const out: Record<string, unknown> = { channel: frame.channel, name, data: data ?? null, id: frame.messageId };
  if (frame.seq !== undefined) out.seq = frame.seq;
  if (frame.clientId !== undefined) out.clientId = frame.clientId;
  out.timestamp = frame.timestamp;
  if (encoding !== undefined) out.encoding = encoding;
  if (frame.ephemeral) out.ephemeral = true;
  return JSON.stringify(out);
}
