import type { Engine, MessageDraft, StoredMessage } from '../../src/core/engine.js';

export const CH = 'app/chat';

let n = 0;

/** A draft with a fresh message id. */
export const draft = (over: Partial<MessageDraft> = {}): MessageDraft => ({
  name: 'msg',
  data: { text: `hello ${n}` },
  messageId: `m-${++n}`,
  clientId: 'alice',
  ...over,
});

export async function publishMany(engine: Engine, channelKey: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await engine.publish(channelKey, draft());
}

export const seqs = (messages: StoredMessage[]) => messages.map((m) => m.seq);

export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
