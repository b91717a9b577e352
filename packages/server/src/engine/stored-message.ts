import type { MessageDraft, StoredMessage } from '../core/engine.js';

/**
 * The stored form of a draft. Every field is set (absent ones as undefined) so that all messages
 * share one object shape: the fan-out path reads them monomorphically and nothing is copied key by key.
 */
export function storedMessage(draft: MessageDraft, timestamp: number, seq: number | undefined): StoredMessage {
  return {
    name: draft.name,
    data: draft.data,
    messageId: draft.messageId,
    clientId: draft.clientId,
    connectionId: draft.connectionId,
    encoding: draft.encoding,
    messages: draft.messages,
    ephemeral: draft.ephemeral,
    timestamp,
    seq,
  };
}

/**
 * The next presence serial after `last`: one more, or the clock in microseconds when that is higher,
 * so serials stay increasing when the state that held `last` is lost (a restart, an emptied Redis).
 */
export function nextPresenceSerial(last: number, nowMs: number): number {
  return Math.max(last + 1, nowMs * 1000);
}
