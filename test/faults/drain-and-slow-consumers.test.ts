import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Message } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';

const servers: RunningServer[] = [];
afterEach(async () => {
  closeClients();
  await Promise.all(servers.splice(0).map(cleanup));
});

async function metric(server: RunningServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.http}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

describe('SIGTERM drains', () => {
  it('stops accepting, tells clients to reconnect with 1012 after flushing, and exits within the deadline', async () => {
    const s = await startServer();
    servers.push(s);
    const raw = await RawClient.connect(s.url);
    await raw.auth(await devtoken('foony', 'drained'));
    raw.send({ t: 'sub', id: 1, channel: 'drain' });
    await raw.reply(1);
    // Queue a burst and signal in the same turn: every message acked before the close must arrive first.
    const pub = await RawClient.connect(s.url);
    await pub.auth(await devtoken('foony', 'publisher'));
    for (let i = 0; i < 20; i++) pub.send({ t: 'pub', id: 10 + i, channel: 'drain', name: 'n', data: i, messageId: `d-${i}` });
    await pub.reply(29);
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => s.proc.once('exit', (code) => resolve(code)));
    s.proc.kill('SIGTERM');
    const closed = await raw.waitClosed(8000);
    expect(closed.code).toBe(1012);
    expect(raw.frames.filter((f) => f.t === 'msg')).toHaveLength(20);
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(RawClient.connect(s.url)).rejects.toThrow();
  });
});

describe('slow consumers', () => {
  it('cuts a client that stops reading (4008), keeps memory bounded, and others get everything', async () => {
    const s = await startServer(['--max-buffered', String(256 * 1024), '--publish-rate', '100000']);
    servers.push(s);
    const token = await devtoken('foony', 'reader');
    const bystander = client(s.url, { token: await devtoken('foony', 'bystander') });
    const got: Message[] = [];
    bystander.channels.get('firehose').on((m) => got.push(m));
    await bystander.channels.get('firehose').attach();

    // The slow one: subscribes, then its socket stops reading.
    const slow = new WebSocket(s.url);
    await new Promise((r) => slow.once('open', r));
    slow.send(JSON.stringify({ t: 'auth', token }));
    slow.send(JSON.stringify({ t: 'sub', id: 1, channel: 'firehose' }));
    await new Promise<void>((resolve) => slow.on('message', (d) => String(d).includes('"t":"ack"') && resolve()));
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();

    const publisher = client(s.url, { token: await devtoken('foony', 'publisher') });
    const payload = 'x'.repeat(1024);
    const rssBefore = await metric(s, 'hubbub_process_resident_memory_bytes');
    const total = 8000;
    for (let i = 0; i < total; i += 200) {
      await Promise.all(Array.from({ length: 200 }, (_, j) => publisher.channels.get('firehose').publish('big', { i: i + j, payload })));
    }
    await until(async () => (await metric(s, 'hubbub_slow_consumers_cut_total')) >= 1, 'the slow consumer is cut', 15_000);
    await until(() => got.length === total, 'the bystander gets every message', 15_000);
    const rssAfter = await metric(s, 'hubbub_process_resident_memory_bytes');
    // 8 MB went to the slow socket's channel; the server held at most its limit of it.
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024 * 1024);
    const closed = new Promise<number>((resolve) => slow.once('close', (code) => resolve(code)));
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect([4008, 1006]).toContain(await closed);
    slow.terminate();
  });
});
