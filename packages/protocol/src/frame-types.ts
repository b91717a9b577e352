import { MAX_BINARY_BATCH } from './binary/client-decode.js';
import { MAX_JSON_BATCH } from './codec.js';
import type { ClientFrame, ServerFrame } from './frames.js';

/**
 * Every frame type (`t`) of the protocol with its fields and a one-line description: the table
 * docs/protocol.md is generated from (scripts/docs.mjs). The types below make the compiler hold it to
 * frames.ts: a `t` missing from either union or not in it, a field missing or unknown, or a field
 * marked optional when it is required (or the other way round) fails to compile.
 */

type FrameOf<Union, T> = Extract<Union, { t: T }>;

/** Each field of a frame but `t`, marked `'?'` when it is optional and `''` when it is required. */
type FieldMarks<Frame> = { [K in Exclude<keyof Frame, 't'>]-?: {} extends Pick<Frame, K> ? '?' : '' };

interface FrameDoc<Frame> {
  description: string;
  fields: FieldMarks<Frame>;
}

interface RequestDoc<Frame> extends FrameDoc<Frame> {
  /** What the server answers. */
  reply: string;
}

const CLIENT_FRAMES: { [T in ClientFrame['t']]: RequestDoc<FrameOf<ClientFrame, T>> } = {
  auth: {
    description: 'first frame of a connection: a JWT (`token`), or an API key (`key`) with `clientId`; sent again on a live connection it renews the token',
    fields: { token: '?', key: '?', clientId: '?', resumeConnectionId: '?', echo: '?' },
    reply: '`connected`; refused: `err` 40101/40102, then close 4101/4102',
  },
  sub: {
    description: 'subscribe to a channel, resuming after `lastSerial` of stream `epoch`',
    fields: { id: '', channel: '', lastSerial: '?', epoch: '?' },
    reply: 'the missed `msg`s, then `ack { seq, epoch, resumed? }`',
  },
  unsub: { description: 'unsubscribe from a channel', fields: { id: '', channel: '' }, reply: '`ack`' },
  pub: {
    description: `publish one message, or a batch (\`messages\`: 1-${MAX_JSON_BATCH} messages here, 1-${MAX_BINARY_BATCH} on the binary dialect; more is 40001) under one \`messageId\`, the client-chosen dedup id`,
    fields: { id: '', channel: '', name: '', data: '', messageId: '', encoding: '?', messages: '?', ephemeral: '?' },
    reply: '`ack { seq, duplicate? }` (no `seq` when `ephemeral`)',
  },
  pres: {
    description: "enter, update or leave the channel's presence",
    fields: { id: '', channel: '', action: '', data: '?', encoding: '?' },
    reply: '`ack { pseq, action? }`',
  },
  presSub: { description: 'watch a channel\'s presence', fields: { id: '', channel: '' }, reply: '`ack { members, pseq }`, then `presEvt`s' },
  presUnsub: { description: 'stop watching presence', fields: { id: '', channel: '' }, reply: '`ack`' },
  hist: {
    description: "read a channel's history, a page at a time",
    fields: { id: '', channel: '', limit: '?', before: '?', direction: '?' },
    reply: '`histRes { messages (oldest first), more }`',
  },
  fetch: { description: 'every retained message after `fromSerial`', fields: { id: '', channel: '', fromSerial: '' }, reply: '`fetchRes { messages, resumed }`' },
  tsub: {
    description: 'subscribe to a platform topic (`sync.<doc>`, a watched table) with an optional payload filter, resuming after `lastSerial`',
    fields: { id: '', sid: '', topic: '', filter: '?', lastSerial: '?', epoch: '?' },
    reply: 'the missed `evt`s (filtered), then `ack { seq, epoch }`',
  },
  tunsub: { description: 'end the topic subscription `sid`', fields: { id: '', sid: '' }, reply: '`ack`' },
  dm: {
    description: 'a direct message to every connection of client id `to` (same app)',
    fields: { id: '', to: '', name: '', data: '?' },
    reply: '`ack`; the recipients get an `evt` on topic `direct.<to>`',
  },
  ping: { description: 'keep-alive', fields: { id: '?' }, reply: '`pong`' },
};

const SERVER_FRAMES: { [T in ServerFrame['t']]: FrameDoc<FrameOf<ServerFrame, T>> } = {
  connected: {
    description: 'auth accepted: send something at least every `keepAliveMs`; frames over `maxFrameBytes` close the socket (1009)',
    fields: { connectionId: '', clientId: '', keepAliveMs: '', expiresAt: '?', maxFrameBytes: '?' },
  },
  ack: {
    description: 'the request `id` succeeded; which fields are set depends on the request (see the client table)',
    fields: { id: '', seq: '?', resumed: '?', epoch: '?', duplicate: '?', members: '?', pseq: '?', action: '?' },
  },
  msg: {
    description: 'a message on a subscribed channel; `seq` is its channel serial; a batch carries `messages`',
    fields: { channel: '', name: '', data: '', messageId: '', timestamp: '', clientId: '?', encoding: '?', seq: '?', messages: '?', ephemeral: '?' },
  },
  presEvt: {
    description: 'a presence change on a watched channel, ordered by the presence serial `pseq`',
    fields: { channel: '', action: '', clientId: '', connectionId: '', data: '?', encoding: '?', timestamp: '', pseq: '?' },
  },
  err: { description: 'the request `id` failed (or, without `id`, the connection or `channel` did)', fields: { id: '?', code: '', message: '', channel: '?' } },
  pong: { description: 'answer to `ping`', fields: { id: '?' } },
  histRes: { description: 'a page of history, oldest first; `more` when there is an older page', fields: { id: '', channel: '', messages: '', more: '?' } },
  fetchRes: { description: 'the messages after `fromSerial`; `resumed: false` when some were no longer retained', fields: { id: '', channel: '', messages: '', resumed: '' } },
  evt: { description: 'a platform event (topic subscription, filter applied, or direct message); `seq` is its position in the topic', fields: { event: '', seq: '?' } },
};

export interface FrameTypeInfo {
  t: string;
  /** Who sends it. */
  from: 'client' | 'server';
  description: string;
  /** Field names, optional ones ending in `?`. */
  fields: string[];
  /** Client frames: what the server answers. */
  reply?: string;
}

function fieldList(marks: Record<string, '' | '?'>): string[] {
  return Object.entries(marks).map(([name, mark]) => name + mark);
}

/** Every frame type, client frames first, each in the order of frames.ts. */
export const FRAME_TYPES: readonly FrameTypeInfo[] = [
  ...Object.entries(CLIENT_FRAMES).map(([t, doc]): FrameTypeInfo => ({ t, from: 'client', description: doc.description, fields: fieldList(doc.fields), reply: doc.reply })),
  ...Object.entries(SERVER_FRAMES).map(([t, doc]): FrameTypeInfo => ({ t, from: 'server', description: doc.description, fields: fieldList(doc.fields) })),
];
