import { ErrorCode, HubbubError, MESSAGE_ID_RULE, isValidMessageId, type BatchMember } from '@hubbub/protocol';
import type { StoredMessage, TimedPresenceMember } from '../../core/engine.js';
import type { KeyToken } from './token-claims.js';

// The REST request and response shapes Foony's `Rest` client (`@foony/realtime` 0.14–0.16) sends
// and reads: publish items, history items, presence members and `TokenDetails`.

/** Most messages in one array publish (Foony's `batchPublish` sends up to 1000). */
export const MAX_REST_BATCH = 1000;

/** One message of a publish body, as sent: every field unchecked until `checkPublishItem`. */
export interface PublishItem {
  name?: unknown;
  data?: unknown;
  id?: unknown;
  messageId?: unknown;
  clientId?: unknown;
  encoding?: unknown;
  ephemeral?: unknown;
}

/** One history item as Foony's `Rest` client reads it: batches come back one item per member. */
export interface RestMessage {
  id: string;
  name: string;
  data?: unknown;
  timestamp: number;
  clientId?: string;
  encoding?: string;
  serial?: number;
}

/** One presence member as Foony's `Rest` client reads it. */
export interface RestPresenceMember {
  clientId: string;
  connectionId: string;
  action: 'present';
  data?: unknown;
  encoding?: string;
  /** When the member last entered or updated, Unix ms. */
  timestamp: number;
}

/** What `requestToken` replies: Foony's `TokenDetails`. */
export interface TokenDetails extends KeyToken {
  keyName: string;
  clientId: string;
}

/** Refuses (400, 40000) a publish item that is not a message object of the shape above. */
export function checkPublishItem(raw: unknown): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new HubbubError(ErrorCode.BadFrame, 'a message must be a JSON object');
  const m = raw as PublishItem;
  if (typeof m.name !== 'string') throw new HubbubError(ErrorCode.BadFrame, 'a message needs a string "name"');
  if (m.encoding !== undefined && typeof m.encoding !== 'string') throw new HubbubError(ErrorCode.BadFrame, '"encoding" must be a string');
  if (m.ephemeral !== undefined && typeof m.ephemeral !== 'boolean') throw new HubbubError(ErrorCode.BadFrame, '"ephemeral" must be true or false');
  for (const field of ['id', 'messageId'] as const) {
    const v = m[field];
    if (v !== undefined && !isValidMessageId(v)) {
      throw new HubbubError(ErrorCode.BadFrame, `"${field}" must be a string of ${MESSAGE_ID_RULE}`);
    }
  }
  if (m.id !== undefined && m.messageId !== undefined && m.id !== m.messageId) {
    throw new HubbubError(ErrorCode.BadFrame, '"id" and "messageId" name the same thing: give one');
  }
}

/** The dedup id: Foony's `id`, or Hubbub's earlier `messageId`. */
export function messageIdOf(m: PublishItem): string | undefined {
  return (m.id ?? m.messageId) as string | undefined;
}

/** A checked publish item as a batch member (name, data, encoding). */
export function publishMember(m: PublishItem): BatchMember {
  const out: BatchMember = { name: m.name as string, data: m.data };
  if (m.encoding !== undefined) out.encoding = m.encoding as string;
  return out;
}

/** A stored message as history items: one, or one per member of a batch (sharing its id and serial). */
export function restMessages(m: StoredMessage): RestMessage[] {
  const parts: BatchMember[] = m.messages ?? [{ name: m.name, data: m.data, ...(m.encoding !== undefined ? { encoding: m.encoding } : {}) }];
  return parts.map((p) => {
    const item: RestMessage = { id: m.messageId, name: p.name, data: p.data, timestamp: m.timestamp };
    if (m.clientId !== undefined) item.clientId = m.clientId;
    if (p.encoding !== undefined) item.encoding = p.encoding;
    if (m.seq !== undefined) item.serial = m.seq;
    return item;
  });
}

export function restMember(m: TimedPresenceMember): RestPresenceMember {
  const out: RestPresenceMember = { clientId: m.clientId, connectionId: m.connectionId, action: 'present', timestamp: m.timestamp };
  if (m.data !== undefined) out.data = m.data;
  if (m.encoding !== undefined) out.encoding = m.encoding;
  return out;
}

/** The `TokenDetails` for a token minted with key `keyName` for `clientId`. */
export function tokenDetails(keyName: string, clientId: string, minted: KeyToken): TokenDetails {
  return {
    token: minted.token,
    keyName,
    issued: minted.issued,
    expires: minted.expires,
    clientId,
    capability: minted.capability,
  };
}
