import { ErrorCode, HubbubError, parseJsonBody } from '@hubbub/protocol';
import { isConnectionIdShape } from '../../core/connection-ids.js';
import { assertPusherChannel } from './channel-names.js';
import {
  PUSHER_MAX_BATCH_EVENTS,
  PUSHER_MAX_EVENT_CHANNELS,
  PUSHER_MAX_EVENT_DATA_BYTES,
  PUSHER_MAX_EVENT_NAME_LENGTH,
} from './defaults.js';
import { isReservedEvent } from './protocol.js';

/** What `info` may ask of a channel an event went to. */
export type EventInfo = 'subscription_count' | 'user_count';

/** One event of `POST /events` or `POST /batch_events`, checked. */
export interface PusherEvent {
  name: string;
  /** As sent: text, which the channel space stores parsed when it is JSON (event-data.ts). */
  data: string;
  /** Distinct, in the order given. */
  channels: string[];
  /** The connection not to send it to: a Pusher `socket_id`, or a Hubbub connection id. */
  socketId?: string;
  info: EventInfo[];
}

/**
 * Pusher's socket ids (`123.456`, what pusher-js and Echo send), and Hubbub's own connection ids, so a
 * backend can leave out a Hubbub SDK connection. Anything else is refused (400) as Pusher refuses it,
 * rather than read as an id no connection has.
 */
const PUSHER_SOCKET_ID = /^\d{1,20}\.\d{1,20}$/;
const isSocketId = (id: string) => PUSHER_SOCKET_ID.test(id) || isConnectionIdShape(id);

/** Parse a request body as JSON; 400 when it is not, or nests too deep. */
export function jsonBody(body: Buffer): unknown {
  return parseJsonBody(body.toString('utf8'));
}

/** `POST /events`: `{name, data, channel | channels, socket_id?, info?}`. */
export function eventOf(body: unknown): PusherEvent {
  const raw = objectOf(body, 'the body');
  const channels = raw.channels !== undefined ? raw.channels : raw.channel !== undefined ? [raw.channel] : undefined;
  if (!Array.isArray(channels) || channels.length === 0) throw badRequest('an event needs "channels" (a list) or "channel"');
  return checkedEvent(raw, channels, 'the event');
}

/** `POST /batch_events`: `{batch: [{name, data, channel, socket_id?, info?}, …]}`, at most 10. */
export function batchOf(body: unknown): PusherEvent[] {
  const batch = objectOf(body, 'the body').batch;
  if (!Array.isArray(batch) || batch.length === 0) throw badRequest('the body needs "batch": a list of events');
  if (batch.length > PUSHER_MAX_BATCH_EVENTS) {
    throw new HubbubError(ErrorCode.TooLarge, `a batch holds at most ${PUSHER_MAX_BATCH_EVENTS} events; this one holds ${batch.length}`);
  }
  return batch.map((item, i) => {
    const raw = objectOf(item, `batch[${i}]`);
    if (typeof raw.channel !== 'string') throw badRequest(`batch[${i}] needs a "channel"`);
    return checkedEvent(raw, [raw.channel], `batch[${i}]`);
  });
}

/** A comma-separated `info`, checked against what the caller can answer. */
export function infoOf(raw: unknown, allowed: readonly string[], where: string): string[] {
  if (raw === undefined || raw === '') return [];
  if (typeof raw !== 'string') throw badRequest(`${where}: "info" is a comma-separated list`);
  const asked = [...new Set(raw.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
  const unknown = asked.filter((a) => !allowed.includes(a));
  if (unknown.length > 0) throw badRequest(`${where}: "info" may ask for ${allowed.join(', ')}, not ${unknown.join(', ')}`);
  return asked;
}

function checkedEvent(raw: Record<string, unknown>, channels: unknown[], where: string): PusherEvent {
  const { name, data } = raw;
  if (typeof name !== 'string' || name.length === 0 || name.length > PUSHER_MAX_EVENT_NAME_LENGTH) {
    throw badRequest(`${where} needs a "name" of 1-${PUSHER_MAX_EVENT_NAME_LENGTH} characters`);
  }
  if (isReservedEvent(name)) throw badRequest(`${where}: event names starting "pusher:" or "pusher_internal:" belong to the protocol`);
  if (typeof data !== 'string') throw badRequest(`${where} needs "data" as a string (JSON text, or any text)`);
  const bytes = Buffer.byteLength(data, 'utf8');
  if (bytes > PUSHER_MAX_EVENT_DATA_BYTES) {
    throw new HubbubError(ErrorCode.TooLarge, `${where}: "data" is ${bytes} bytes, over the ${PUSHER_MAX_EVENT_DATA_BYTES}-byte limit of one event`);
  }
  if (channels.length > PUSHER_MAX_EVENT_CHANNELS) {
    throw badRequest(`${where} names ${channels.length} channels; one event goes to at most ${PUSHER_MAX_EVENT_CHANNELS}`);
  }
  for (const c of channels) assertPusherChannel(c);
  const event: PusherEvent = { name, data, channels: [...new Set(channels as string[])], info: infoOf(raw.info, ['subscription_count', 'user_count'], where) as EventInfo[] };
  if (raw.socket_id !== undefined && raw.socket_id !== null) {
    if (typeof raw.socket_id !== 'string' || !isSocketId(raw.socket_id)) throw badRequest(`${where}: "socket_id" is not a socket id`);
    event.socketId = raw.socket_id;
  }
  return event;
}

function objectOf(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

function badRequest(message: string): HubbubError {
  return new HubbubError(ErrorCode.BadFrame, message);
}
