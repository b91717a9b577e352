import { randomBytes } from 'node:crypto';

/** What a webhook request carries: the JSON body, and its size (what the outbox bound counts). */
export interface EventBody {
  payload: string;
  bytes: number;
}

/**
 * The body `{ type, app, timestamp, data }` of one event. A `message.published` event whose message
 * content (`data`, and `messages` for a batch) is over `maxMessageDataBytes` as JSON goes without
 * it: `data` then says `dataOmitted: true` and `dataBytes`, and keeps channel, name, messageId,
 * clientId and seq, with which the receiver can read the message from history.
 */
export function eventBody(type: string, app: string, data: unknown, maxMessageDataBytes: number, timestamp = Date.now()): EventBody {
  const payload = JSON.stringify({ type, app, timestamp, data });
  const bytes = Buffer.byteLength(payload);
  // The body holds the content, so a body within the bound has content within it: the common case
  // costs no second stringify.
  if (type !== 'message.published' || bytes <= maxMessageDataBytes || !isRecord(data)) return { payload, bytes };
  const { data: content, messages, ...rest } = data;
  const contentBytes = jsonBytes(content) + jsonBytes(messages);
  if (contentBytes <= maxMessageDataBytes) return { payload, bytes };
  const cut = JSON.stringify({ type, app, timestamp, data: { ...rest, dataOmitted: true, dataBytes: contentBytes } });
  return { payload: cut, bytes: Buffer.byteLength(cut) };
}

function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Event ids (`webhook-id`, the receiver's dedup key): a random prefix per process and a counter.
 * Unique like a random id per event, without asking the system for random bytes per event.
 */
export class EventIds {
  private readonly prefix = `msg_${randomBytes(12).toString('base64url')}`;
  private counter = 0;

  next(): string {
    return `${this.prefix}${(this.counter++).toString(36)}`;
  }
}
