import { ErrorCode, HubbubError } from './errors.js';
import { MESSAGE_ID_RULE, isValidChannelName, isValidClientId, isValidMessageId } from './names.js';
import { parseFilter } from './filter.js';
import { MAX_JSON_DEPTH, exceedsJsonDepth } from './json-depth.js';
import type { BatchMember, ClientFrame, ServerFrame } from './frames.js';

/** A frame that could not be accepted, with the request id when one could be read. */
export class FrameError extends HubbubError {
  readonly requestId: number | undefined;
  constructor(message: string, requestId?: number, code: number = ErrorCode.BadFrame) {
    super(code, message);
    this.requestId = requestId;
  }
}

export function encodeFrame(frame: ServerFrame | ClientFrame): string {
  return JSON.stringify(frame);
}

/** Server side of the JSON codec: text in, a checked client frame out, or a FrameError. */
export function decodeClientFrame(text: string): ClientFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new FrameError('frame is not valid JSON');
  }
  if (exceedsJsonDepth(text)) throw new FrameError(`frame nests deeper than ${MAX_JSON_DEPTH} levels`, requestIdOf(raw));
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new FrameError('frame must be a JSON object');
  }
  const f = raw as Record<string, unknown>;
  const id = isRequestId(f.id) ? f.id : undefined;
  const bad = (why: string): never => {
    throw new FrameError(why, id);
  };
  const needId = () => (id === undefined ? bad(`"${String(f.t)}" needs a numeric "id"`) : id);
  const needChannel = () => {
    if (!isValidChannelName(f.channel)) {
      bad(`invalid channel name: use 1-255 of [A-Za-z0-9._:-], not starting or ending with "."`);
    }
    return f.channel as string;
  };
  const optString = (key: string) => {
    if (f[key] !== undefined && typeof f[key] !== 'string') bad(`"${key}" must be a string`);
    return f[key] as string | undefined;
  };
  const optCount = (key: string) => {
    if (f[key] !== undefined && !isCount(f[key])) bad(`"${key}" must be a non-negative integer`);
    return f[key] as number | undefined;
  };

  switch (f.t) {
    case 'auth':
      return {
        t: 'auth',
        token: optString('token'),
        key: optString('key'),
        clientId: optString('clientId'),
        resumeConnectionId: optString('resumeConnectionId'),
        echo: f.echo === false ? false : undefined,
      };
    case 'sub':
      return { t: 'sub', id: needId(), channel: needChannel(), lastSerial: optCount('lastSerial'), epoch: optString('epoch') };
    case 'unsub':
      return { t: 'unsub', id: needId(), channel: needChannel() };
    case 'presSub':
      return { t: 'presSub', id: needId(), channel: needChannel() };
    case 'presUnsub':
      return { t: 'presUnsub', id: needId(), channel: needChannel() };
    case 'pub': {
      const reqId = needId();
      const channel = needChannel();
      if (!isValidMessageId(f.messageId)) {
        bad(`"messageId" must be a string of ${MESSAGE_ID_RULE}`);
      }
      const messages = f.messages === undefined ? undefined : batch(f.messages, bad);
      if (!messages && typeof f.name !== 'string') bad('"name" must be a string');
      return {
        t: 'pub',
        id: reqId,
        channel,
        name: (f.name as string) ?? '',
        data: f.data,
        messageId: f.messageId as string,
        encoding: optString('encoding'),
        messages,
        ephemeral: f.ephemeral === true ? true : undefined,
      };
    }
    case 'pres': {
      const reqId = needId();
      const channel = needChannel();
      if (f.action !== 'enter' && f.action !== 'update' && f.action !== 'leave') {
        bad('"action" must be enter, update or leave');
      }
      return {
        t: 'pres',
        id: reqId,
        channel,
        action: f.action as 'enter' | 'update' | 'leave',
        data: f.data,
        encoding: optString('encoding'),
      };
    }
    case 'hist': {
      const reqId = needId();
      const channel = needChannel();
      if (f.direction !== undefined && f.direction !== 'backwards' && f.direction !== 'forwards') {
        bad('"direction" must be backwards or forwards');
      }
      return {
        t: 'hist',
        id: reqId,
        channel,
        limit: optCount('limit'),
        before: optCount('before'),
        direction: f.direction as 'backwards' | 'forwards' | undefined,
      };
    }
    case 'fetch': {
      const reqId = needId();
      const channel = needChannel();
      if (!isCount(f.fromSerial)) bad('"fromSerial" must be a non-negative integer');
      return { t: 'fetch', id: reqId, channel, fromSerial: f.fromSerial as number };
    }
    case 'tsub': {
      const reqId = needId();
      if (typeof f.sid !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(f.sid)) bad('"sid" must be 1-32 of [A-Za-z0-9_-]');
      if (!isValidChannelName(f.topic)) bad('invalid topic name: use 1-255 of [A-Za-z0-9._:-], not starting or ending with "."');
      let filter;
      try {
        filter = parseFilter(f.filter);
      } catch (err) {
        bad((err as Error).message);
      }
      return {
        t: 'tsub',
        id: reqId,
        sid: f.sid as string,
        topic: f.topic as string,
        filter,
        lastSerial: optCount('lastSerial'),
        epoch: optString('epoch'),
      };
    }
    case 'tunsub': {
      const reqId = needId();
      if (typeof f.sid !== 'string') bad('"sid" must be a string');
      return { t: 'tunsub', id: reqId, sid: f.sid as string };
    }
    case 'dm': {
      const reqId = needId();
      if (!isValidClientId(f.to)) bad('"to" must be a client id');
      if (typeof f.name !== 'string' || f.name.length > 128) bad('"name" must be a string of at most 128 characters');
      return { t: 'dm', id: reqId, to: f.to as string, name: f.name as string, data: f.data };
    }
    case 'ping':
      return { t: 'ping', id };
    default:
      return bad(typeof f.t === 'string' ? `unknown frame type "${f.t.slice(0, 32)}"` : 'frame needs a string "t"');
  }
}

/** Client side of the JSON codec. The server is trusted to send well-formed frames. */
export function decodeServerFrame(text: string): ServerFrame {
  const frame = JSON.parse(text) as ServerFrame;
  if (frame === null || typeof frame !== 'object' || typeof frame.t !== 'string') {
    throw new FrameError('server frame without "t"');
  }
  return frame;
}

/** Most messages one JSON `pub` frame may batch. */
export const MAX_JSON_BATCH = 100;

function batch(value: unknown, bad: (why: string) => never): BatchMember[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_JSON_BATCH) bad(`"messages" must be an array of 1-${MAX_JSON_BATCH} messages`);
  return (value as unknown[]).map((m) => {
    if (m === null || typeof m !== 'object' || typeof (m as BatchMember).name !== 'string') {
      bad('each batch message needs a string "name"');
    }
    const member = m as BatchMember;
    if (member.encoding !== undefined && typeof member.encoding !== 'string') bad('"encoding" must be a string');
    return member.encoding === undefined
      ? { name: member.name, data: member.data }
      : { name: member.name, data: member.data, encoding: member.encoding };
  });
}

function requestIdOf(raw: unknown): number | undefined {
  const id = (raw as { id?: unknown } | null)?.id;
  return isRequestId(id) ? id : undefined;
}

function isRequestId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
