import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeClient, type RealtimeEvent } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { TestDatabase } from '../support/postgres.js';
import { until } from '../support/wait.js';

const clients = new Set<RealtimeClient>();
function platformClient(server: RunningServer, token: string, extra: Partial<ConstructorParameters<typeof RealtimeClient>[0]> = {}) {
  const c = new RealtimeClient({ url: server.http, token, reconnectionDelay: 200, ...extra });
  clients.add(c);
  return c;
}
afterEach(() => {
  for (const c of clients) c.destroy();
  clients.clear();
});

function connected(c: RealtimeClient): Promise<void> {
  return until(() => c.connected, 'connected');
}

describe('RealtimeClient: topics, sync documents, messaging', () => {
  let server: RunningServer;
  let alice: string;
  let bob: string;
  beforeAll(async () => {
    server = await startServer();
    [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
  });
  afterAll(() => cleanup(server));

  it('filters on the server: equality, in, and several fields ANDed; nothing filtered leaks', async () => {
    const writer = platformClient(server, alice);
    const reader = platformClient(server, bob);
    await connected(reader);
    const seen: RealtimeEvent[] = [];
    const raw: string[] = [];
    // Watch what crosses the wire, not just what the SDK hands out.
    const socket = () => (reader as unknown as { conn: { socket: { onmessage: (e: { data: unknown }) => void } } }).conn.socket;
    const original = socket().onmessage;
    socket().onmessage = (e) => {
      raw.push(String(e.data));
      original(e);
    };
    const id1 = reader.subscribe({ topic: 'sync.ticket-1', filter: { campusId: 12 } });
    const id2 = reader.subscribe({ topic: 'sync.ticket-2', filter: { status: { in: ['open', 'closed'] }, campusId: 12 } });
    expect([id1, id2]).toEqual(['sub_1', 'sub_2']);
    reader.on('event', (e) => seen.push(e));
    await writer.sync.create('ticket-1', { campusId: 12, status: 'open' });
    await writer.sync.create('ticket-2', { campusId: 12, status: 'pending' });
    const t1 = await writer.sync.get<{ campusId: number }>('ticket-1');
    await writer.sync.update('ticket-1', { campusId: 99, status: 'open' }, { revision: t1!.revision });
    const t2 = await writer.sync.get('ticket-2');
    await writer.sync.update('ticket-2', { campusId: 12, status: 'closed' }, { revision: t2!.revision });
    await until(() => seen.length === 2, 'two matching events');
    expect(seen.map((e) => [e.topic, e.type, e.metadata.revision])).toEqual([
      ['sync.ticket-1', 'sync.created', 1],
      ['sync.ticket-2', 'sync.updated', 2],
    ]);
    expect(seen[0]).toMatchObject({ source: 'sync', payload: { campusId: 12, status: 'open' } });
    expect(raw.filter((f) => f.includes('"t":"evt"'))).toHaveLength(2);
    expect(raw.join('\n')).not.toContain('"campusId":99');
    expect(raw.join('\n')).not.toContain('pending');
  });

  it('refuses bad filters with 40001', async () => {
    const c = platformClient(server, alice);
    expect(() => c.subscribe({ topic: 'x', filter: { a: { gt: 1 } as never } })).toThrow(expect.objectContaining({ code: 40001 }));
    expect(() => c.subscribe({ topic: '.x' })).toThrow(expect.objectContaining({ code: 40001 }));
  });

  it('re-establishes subscriptions after a reconnect', async () => {
    const writer = platformClient(server, alice);
    const reader = platformClient(server, bob);
    expect(reader.state).toBe('connecting');
    const states: string[] = [];
    reader.on('connection', (c) => states.push(c.state));
    const got: RealtimeEvent[] = [];
    reader.subscribe({ topic: 'sync.after-drop' });
    reader.on('event:sync.after-drop', (e) => got.push(e));
    await connected(reader);
    const socket = (reader as unknown as { conn: { socket: { _socket: { destroy(): void } } } }).conn.socket;
    socket._socket.destroy();
    await until(() => states.includes('reconnecting'), 'reconnecting');
    await until(() => reader.connected, 'reconnected');
    // The re-subscription is in flight once connected: write until an event makes it through.
    await writer.sync.create('after-drop', { n: 0 });
    let revision = 1;
    await until(async () => {
      revision = (await writer.sync.update('after-drop', { n: revision }, { revision })).revision;
      return got.length > 0;
    }, 'an event after the reconnect');
    expect(got[0]).toMatchObject({ topic: 'sync.after-drop', source: 'sync' });
    expect(states).toEqual(['connected', 'reconnecting', 'connected']);
  });

  it('documents: CRUD with revisions, conflicts carry the current revision, list by prefix', async () => {
    const c = platformClient(server, alice);
    const doc = await c.sync.create('board.1', { cards: [] });
    expect(doc).toMatchObject({ name: 'board.1', revision: 1, data: { cards: [] } });
    const v2 = await c.sync.update('board.1', { cards: ['a'] }, { revision: 1 });
    expect(v2.revision).toBe(2);
    await expect(c.sync.update('board.1', { cards: ['stale'] }, { revision: 1 })).rejects.toMatchObject({
      code: 40900,
      statusCode: 409,
      currentRevision: 2,
    });
    await expect(c.sync.create('board.1', {})).rejects.toMatchObject({ code: 40900 });
    await c.sync.create('board.2', {});
    await c.sync.create('other', {});
    expect((await c.sync.list({ prefix: 'board.' })).map((d) => d.name)).toEqual(['board.1', 'board.2']);
    await expect(c.sync.delete('board.2', { revision: 7 })).rejects.toMatchObject({ currentRevision: 1 });
    expect((await c.sync.delete('board.2', { revision: 1 })).revision).toBe(2);
    expect(await c.sync.get('board.2')).toBeNull();
    await expect(c.sync.update('nope', {}, { revision: 1 })).rejects.toMatchObject({ code: 40400 });
    const other = platformClient(server, await devtoken('otherapp', 'x'));
    expect(await other.sync.get('board.1')).toBeNull();
  });

  it('documents: GET /sync/documents answers in pages of 100 with a cursor in `next`; sync.list() still reads them', async () => {
    const c = platformClient(server, alice);
    const names = Array.from({ length: 130 }, (_, i) => `page.${String(i).padStart(3, '0')}`);
    for (const name of names) await c.sync.create(name, { name });
    const get = async (query: string) => {
      const res = await fetch(`${server.http}/sync/documents?${query}`, { headers: { authorization: `Bearer ${alice}` } });
      expect(res.status).toBe(200);
      return (await res.json()) as { documents: Array<{ name: string }>; next?: string };
    };
    const first = await get('prefix=page.');
    expect(first.documents.map((d) => d.name)).toEqual(names.slice(0, 100));
    expect(first.next).toEqual(expect.any(String));
    const second = await get(`prefix=page.&cursor=${encodeURIComponent(first.next!)}`);
    expect(second.documents.map((d) => d.name)).toEqual(names.slice(100));
    expect(second.next).toBeUndefined();
    const small = await get('prefix=page.&limit=7');
    expect(small.documents).toHaveLength(7);
    // The SDK reads `documents` as before (the first page at least).
    expect((await c.sync.list({ prefix: 'page.' })).slice(0, 100).map((d) => d.name)).toEqual(names.slice(0, 100));
  });

  it('direct messages reach every connection of the client id, and channel messages arrive as events', async () => {
    const sender = platformClient(server, alice);
    const phone = platformClient(server, bob);
    const laptop = platformClient(server, bob);
    await Promise.all([connected(sender), connected(phone), connected(laptop)]);
    const atPhone: RealtimeEvent[] = [];
    const atLaptop: RealtimeEvent[] = [];
    phone.on('event', (e) => atPhone.push(e));
    laptop.on('event', (e) => atLaptop.push(e));
    await sender.socketClient.sendDirect('bob', 'nudge', { text: 'psst' });
    await until(() => atPhone.length === 1 && atLaptop.length === 1, 'both devices');
    expect(atPhone[0]).toMatchObject({ source: 'socket', type: 'nudge', payload: { text: 'psst' }, metadata: { clientId: 'alice' } });

    await phone.socketClient.join('team');
    await sender.socketClient.send('team', 'standup', { at: '10:00' });
    await until(() => atPhone.length === 2, 'channel message');
    expect(atPhone[1]).toMatchObject({ topic: 'team', source: 'socket', type: 'standup', payload: { at: '10:00' } });
    expect(atLaptop).toHaveLength(1);
  });
});

describe('document limits, through the SDK', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--max-documents-per-app', '3', '--max-document-size', '256']);
  });
  afterAll(() => cleanup(server));

  it('a document over --max-document-size is 41300; a create past --max-documents-per-app is 42900', async () => {
    const c = platformClient(server, await devtoken('limited', 'writer'));
    await expect(c.sync.create('big', { text: 'x'.repeat(256) })).rejects.toMatchObject({ code: 41300, statusCode: 413 });
    const doc = await c.sync.create('small', { text: 'ok' });
    await expect(c.sync.update('small', { text: 'x'.repeat(256) }, { revision: doc.revision })).rejects.toMatchObject({ code: 41300 });
    await c.sync.create('two', {});
    await c.sync.create('three', {});
    await expect(c.sync.create('four', {})).rejects.toMatchObject({ code: 42900, statusCode: 429 });
    await c.sync.delete('two');
    expect(await c.sync.create('four', {})).toMatchObject({ revision: 1 });
    // The count is per app.
    const other = platformClient(server, await devtoken('limited-too', 'writer'));
    expect(await other.sync.create('four', {})).toMatchObject({ revision: 1 });
  });
});

describe('documents survive a restart', () => {
  it('with SQLite in the data dir', async () => {
    const first = await startServer();
    const token = await devtoken('foony', 'alice');
    const c = platformClient(first, token, { autoConnect: false });
    await c.sync.create('keep', { n: 1 });
    await c.sync.update('keep', { n: 2 }, { revision: 1 });
    await first.stop('SIGKILL');
    const second = await startServer([], { dataDir: first.dataDir });
    const again = platformClient(second, token, { autoConnect: false });
    expect(await again.sync.get('keep')).toMatchObject({ revision: 2, data: { n: 2 } });
    await cleanup(second);
  });

  it('with PostgreSQL', async () => {
    const db = await TestDatabase.create();
    if (!db) return;
    try {
      const first = await startServer(['--postgres', db.url]);
      const token = await devtoken('foony', 'alice');
      const c = platformClient(first, token, { autoConnect: false });
      await c.sync.create('pg-keep', { n: 1 });
      await c.sync.update('pg-keep', { n: 2 }, { revision: 1 });
      await first.stop('SIGKILL');
      const second = await startServer(['--postgres', db.url]);
      const again = platformClient(second, token, { autoConnect: false });
      expect(await again.sync.get('pg-keep')).toMatchObject({ revision: 2, data: { n: 2 } });
      await cleanup(second);
      await cleanup(first);
    } finally {
      await db.drop();
    }
  });
});
