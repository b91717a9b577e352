import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, HubbubError, type Message } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/in-process.js';
import { client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';

// docs/realtime.md: `publish()` resolves to `{ messageId, serial, duplicate }`, and an application that
// retries a publish itself (after its own crash, from another connection) passes `{ messageId }` so the
// server stores and delivers it once.
let server: RunningServer;
let token: string;

beforeAll(async () => {
  server = await startServer();
  token = await devtoken('foony', 'writer');
});
afterAll(() => cleanup(server));
afterEach(() => closeClients());

describe('channel.publish() result and caller-chosen message ids', () => {
  it('resolves to the message id and the serial the server gave it', async () => {
    const channel = client(server.url, { token }).channels.get('results:a');
    const first = await channel.publish('n', 1);
    const second = await channel.publish('n', 2);
    expect(first).toEqual({ messageId: expect.any(String), serial: 1, duplicate: false });
    expect(second.serial).toBe(2);
    expect(second.messageId).not.toBe(first.messageId);
  });

  it('a caller-chosen id retried from another connection is stored and delivered once', async () => {
    const seen: Message[] = [];
    const reader = client(server.url, { token }).channels.get('results:b');
    reader.on((m) => seen.push(m));
    await reader.attach();

    const first = await client(server.url, { token }).channels.get('results:b').publish('order', { n: 7 }, { messageId: 'order-7' });
    const retry = await client(server.url, { token }).channels.get('results:b').publish('order', { n: 7 }, { messageId: 'order-7' });
    expect(first).toEqual({ messageId: 'order-7', serial: 1, duplicate: false });
    expect(retry).toEqual({ messageId: 'order-7', serial: 1, duplicate: true });

    await client(server.url, { token }).channels.get('results:b').publish('after', null);
    await until(() => seen.length === 2, 'the order and the message after it');
    expect(seen.map((m) => [m.id, m.serial])).toEqual([
      ['order-7', 1],
      [expect.any(String), 2],
    ]);
  });

  it('an ephemeral publish resolves without a serial', async () => {
    const result = await client(server.url, { token }).channels.get('results:c').publish('typing', true, { ephemeral: true });
    expect(result.serial).toBeUndefined();
    expect(result.duplicate).toBe(false);
  });

  it('a message id that is not 1-128 UTF-16 code units of well-formed text is refused with 40001, nothing stored', async () => {
    const channel = client(server.url, { token }).channels.get('results:d');
    // A lone surrogate would become U+FFFD once stored: '\ud800' and '\udc00' would be one id.
    for (const messageId of ['', 'x'.repeat(129), 42 as unknown as string, '\ud800', 'a\udc00', '\udc00\ud800']) {
      const error = await channel.publish('n', 1, { messageId }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HubbubError);
      expect((error as HubbubError).code).toBe(ErrorCode.BadFrame);
    }
    expect(await channel.history()).toEqual([]);
  });

  it('REST refuses a lone surrogate in a message id with 400, and a surrogate pair is an id of its own', async () => {
    const post = (id: string) =>
      fetch(`${server.http}/channels/results:e/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, name: 'n', data: id }),
      });
    expect((await post('\ud800')).status).toBe(400);
    expect((await post('\udc00')).status).toBe(400);
    const pair = await post('\ud83d\ude00');
    expect(pair.status).toBe(200);
    const other = await post('\ud83d\ude01');
    expect(((await other.json()) as { duplicate?: boolean }).duplicate).not.toBe(true);
  });
});
