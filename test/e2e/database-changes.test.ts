import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeClient, type RealtimeEvent, type TopicFilter } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { TestDatabase } from '../support/postgres.js';
import { until } from '../support/wait.js';

const db = await TestDatabase.create();

describe.runIf(db)('database change events (real PostgreSQL)', () => {
  let server: RunningServer | undefined;
  let token: string;
  const args = () => ['--postgres', db!.url, '--watch-table', 'sessions=session.status', '--watch-app', 'foony'];

  beforeAll(async () => {
    await db!.query('CREATE TABLE sessions (id serial PRIMARY KEY, status text NOT NULL, campus_id int NOT NULL)');
    server = await startServer(args());
    token = await devtoken('foony', 'watcher');
  });
  afterAll(async () => {
    await cleanup(server);
    await db!.drop();
  });

  function watch(s: RunningServer, filter?: Record<string, unknown>) {
    const client = new RealtimeClient({ url: s.http, token, reconnectionDelay: 200 });
    const events: RealtimeEvent[] = [];
    client.subscribe({ topic: 'session.status', ...(filter ? { filter: filter as TopicFilter } : {}) });
    client.on('event:session.status', (e) => events.push(e));
    return { client, events };
  }

  it('turns inserts, updates and deletes into events, filtered on the server', async () => {
    const { client, events } = watch(server!, { campus_id: 12 });
    await until(() => client.connected, 'connected');
    // The subscription is acked asynchronously: a first insert proves it is in place.
    await until(async () => {
      await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('probe', 12)");
      return events.length > 0;
    }, 'the subscription');
    const real = () => events.filter((e) => (e.payload as { status: string }).status !== 'probe');
    const { rows } = await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('open', 12) RETURNING id");
    await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('open', 99)");
    await db!.query("UPDATE sessions SET status = 'closed' WHERE id = $1", [rows[0].id]);
    await db!.query('DELETE FROM sessions WHERE id = $1', [rows[0].id]);
    await until(() => real().length === 3, 'insert, update, delete');
    await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('last', 12)");
    await until(() => real().length === 4, 'a later change');
    expect(real().slice(0, 3).map((e) => [e.type, e.metadata.operation, e.metadata.table])).toEqual([
      ['database.insert', 'insert', 'sessions'],
      ['database.update', 'update', 'sessions'],
      ['database.delete', 'delete', 'sessions'],
    ]);
    expect(real()[0]).toMatchObject({ source: 'database', topic: 'session.status', payload: { status: 'open', campus_id: 12 } });
    expect(real()[2].payload).toMatchObject({ id: rows[0].id, status: 'closed' });
    expect(events.some((e) => (e.payload as { campus_id: number }).campus_id === 99)).toBe(false);
    client.destroy();
  });

  it('delivers changes made while Hubbub was down after it comes back, none twice', async () => {
    const { client, events } = watch(server!);
    await until(() => client.connected, 'connected');
    await until(async () => {
      await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('before', 1)");
      return events.some((e) => (e.payload as { status: string }).status === 'before');
    }, 'live before the outage');
    const port = server!.port;
    await server!.stop('SIGTERM');
    await until(() => client.state === 'reconnecting', 'client notices');
    for (const status of ['down-1', 'down-2', 'down-3']) {
      await db!.query('INSERT INTO sessions (status, campus_id) VALUES ($1, 2)', [status]);
    }
    server = await startServer(args(), { port, dataDir: server!.dataDir });
    await until(() => ['down-1', 'down-2', 'down-3'].every((s) => events.some((e) => (e.payload as { status: string }).status === s)), 'the changes made while down', 15_000);
    await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('after', 3)");
    await until(() => events.some((e) => (e.payload as { status: string }).status === 'after'), 'a change after');
    const statuses = events.map((e) => (e.payload as { status: string }).status);
    for (const s of ['down-1', 'down-2', 'down-3', 'after']) expect(statuses.filter((x) => x === s)).toHaveLength(1);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    client.destroy();
  });
});
