/**
 * PostgreSQL sessions killed under a running `hubbub serve --postgres` (pg_terminate_backend), and a
 * window in which the database refuses every new connection. Hubbub holds three kinds of connection
 * there: the store's pool (documents, webhook outbox, change-feed position), the change feed's pool,
 * and its LISTEN connection. What is checked: the process stays up and its sockets stay open; requests
 * either succeed or get a clear 50001 with HTTP 503 (never a 500 or a hang); afterwards every
 * acknowledged write is there and delivered exactly once: document changes and table changes to
 * topic subscribers, published messages and document changes to the webhook endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { HubbubError, type RealtimeEvent } from '@hubbub/protocol';
import { RealtimeClient, verifyWebhook, type Message, type Realtime, type SyncClient } from '@hubbub/client';
import { generateWebhookSecret } from '../../packages/server/src/service/webhooks/signature.js';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { TestDatabase } from '../support/postgres.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/wait.js';

const db = await TestDatabase.create();

describe.runIf(db)('PostgreSQL connections terminated', () => {
  let server: RunningServer;
  let dba: pg.Client;
  let hooks: Server;
  let docs: SyncClient;
  let pub: Realtime;
  let watcher: RawClient;
  const fed: Message[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-pgterm-'));
  /** Webhook deliveries: the webhook id, and what the event was about. */
  const deliveries: Array<{ id: string; key: string }> = [];

  /** Kill every session on the test database except the one asking; returns how many. */
  async function terminate(): Promise<number> {
    const { rows } = await dba.query(
      'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()) t',
      [db!.name],
    );
    return rows[0].n as number;
  }

  async function listening(): Promise<boolean> {
    const { rows } = await dba.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query = 'LISTEN hubbub_changes'", [db!.name]);
    return rows[0].n > 0;
  }

  /** Events the watcher got on a topic, in order, duplicates included (a raw socket: no SDK dedup). */
  const topicEvents = (topic: string) => watcher.frames.filter((f) => f.t === 'evt').map((f) => (f as { event: RealtimeEvent }).event).filter((e) => e.topic === topic);

  /** A failed request must say what happened: 50001 over a 503, nothing vaguer. */
  function expectUnreachable(err: unknown, what: string): void {
    expect(err, what).toBeInstanceOf(HubbubError);
    expect({ code: (err as HubbubError).code, status: (err as HubbubError).statusCode }, what).toEqual({ code: 50001, status: 503 });
  }

  beforeAll(async () => {
    await db!.query('CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)');
    const secret = generateWebhookSecret();
    const hookPort = await freePort();
    hooks = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const { id, event } = verifyWebhook<{ type: string; data: Record<string, any> }>(secret, Buffer.concat(chunks), req.headers);
        const key =
          event.type === 'message.published'
            ? `pub ${event.data.data}`
            : `${event.data.type} ${event.data.topic} r${event.data.metadata.revision}`;
        deliveries.push({ id, key });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(hookPort, '127.0.0.1', () => resolve()));
    const config = join(dir, 'hubbub.config.json');
    writeFileSync(
      config,
      JSON.stringify({ webhooks: [{ app: 'foony', url: `http://127.0.0.1:${hookPort}/`, secret, events: ['message.published', 'document.changed'] }] }),
    );
    server = await startServer(
      ['--postgres', db!.url, '--watch-table', 'orders=orders.changes', '--watch-app', 'foony', '--config', config, '--webhook-retry', '200ms', '--webhook-max-delay', '1s', '--webhook-allow-private'],
      { dataDir: dir },
    );
    dba = new pg.Client({ connectionString: db!.url });
    dba.on('error', () => {});
    await dba.connect();

    docs = new RealtimeClient({ url: server.http, token: await devtoken('foony', 'writer'), autoConnect: false }).sync;
    await docs.create('counter', { n: 0 });
    watcher = await RawClient.connect(server.url);
    await watcher.auth(await devtoken('foony', 'watcher'));
    watcher.send({ t: 'tsub', id: 1, sid: 'orders', topic: 'orders.changes' });
    watcher.send({ t: 'tsub', id: 2, sid: 'counter', topic: 'sync.counter' });
    expect(await watcher.reply(2)).toMatchObject({ t: 'ack' });
    expect(await watcher.reply(1)).toMatchObject({ t: 'ack' });
    const sub = client(server.url, { token: await devtoken('foony', 'subscriber') });
    sub.channels.get('feed').on((m) => fed.push(m));
    await sub.channels.get('feed').attach();
    pub = client(server.url, { token: await devtoken('foony', 'publisher') });
    await until(listening, 'the change feed LISTENs');
  });

  afterAll(async () => {
    closeClients();
    watcher?.close();
    await cleanup(server);
    await dba?.end().catch(() => {});
    hooks?.closeAllConnections();
    hooks?.close();
    await db!.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Every key delivered to the webhook endpoint, under a single webhook id each. */
  function expectWebhooks(keys: string[]): void {
    const idsOf = new Map<string, Set<string>>();
    for (const d of deliveries) idsOf.set(d.key, (idsOf.get(d.key) ?? new Set()).add(d.id));
    expect(keys.filter((k) => !idsOf.has(k)), 'events without a webhook').toEqual([]);
    expect([...idsOf].filter(([, ids]) => ids.size > 1).map(([k]) => k), 'events sent as two different webhooks').toEqual([]);
  }

  it('sessions killed under traffic: requests succeed or get 50001/503, and every acked write is delivered exactly once', async () => {
    const acked = { docs: [] as string[], revisions: [] as number[], rows: [] as number[], pubs: [] as string[] };
    const failures: string[] = [];
    let revision = 1;
    let stop = false;
    // One writer doing everything that touches PostgreSQL, in a loop, while sessions are killed.
    const traffic = (async () => {
      for (let n = 0; !stop; n++) {
        const name = `d-${n}`;
        await docs.create(name, { n }).then(
          () => acked.docs.push(name),
          (err) => {
            // A create whose session died after the commit is retried and then finds its own document.
            if (err instanceof HubbubError && err.code === 40900) return;
            expectUnreachable(err, `create ${name}`);
            failures.push(`create ${name}`);
          },
        );
        await docs.update('counter', { n }, { revision }).then(
          (doc) => {
            revision = doc.revision;
            acked.revisions.push(doc.revision);
          },
          async (err) => {
            if (!(err instanceof HubbubError && err.code === 40900)) {
              expectUnreachable(err, `update counter ${n}`);
              failures.push(`update ${n}`);
            }
            revision = (await docs.get('counter').catch(() => null))?.revision ?? revision;
          },
        );
        const { rows } = await dba.query('INSERT INTO orders (item) VALUES ($1) RETURNING id', [`item-${n}`]);
        acked.rows.push(rows[0].id);
        await pub.channels.get('feed').publish('n', `p-${n}`);
        acked.pubs.push(`p-${n}`);
      }
    })();

    for (let round = 0; round < 5; round++) {
      const before = acked.rows.length;
      await until(() => acked.rows.length >= before + 5, `traffic before kill ${round + 1}`);
      const killed = await terminate();
      // The store pool, the change feed's pool and its LISTEN connection: at least the last is always open.
      expect(killed, `sessions killed in round ${round + 1}`).toBeGreaterThanOrEqual(1);
    }
    const before = acked.rows.length;
    await until(() => acked.rows.length >= before + 5, 'traffic after the last kill');
    stop = true;
    await traffic;

    expect(server.proc.exitCode).toBeNull();
    expect(watcher.closed).toBeUndefined();
    console.info(`postgres-terminated: ${acked.docs.length} documents, ${acked.revisions.length} updates, ${acked.rows.length} rows, ${acked.pubs.length} publishes; failed requests: ${failures.length ? failures.join(', ') : 'none'}`);

    // Durable: every acknowledged document is stored.
    const stored = new Set((await docs.list({ prefix: 'd-' })).map((d) => d.name));
    expect(acked.docs.filter((d) => !stored.has(d))).toEqual([]);
    // Table changes: every inserted row, exactly once, each event under its own id.
    await until(() => acked.rows.every((id) => topicEvents('orders.changes').some((e) => (e.payload as { id: number }).id === id)), 'every row as an event', 15_000);
    const rowEvents = topicEvents('orders.changes').map((e) => (e.payload as { id: number }).id);
    expect(rowEvents).toEqual(acked.rows);
    expect(new Set(topicEvents('orders.changes').map((e) => e.id)).size).toBe(rowEvents.length);
    // Document changes to subscribers: each acked revision of the counter exactly once.
    await until(() => acked.revisions.every((r) => topicEvents('sync.counter').some((e) => e.metadata.revision === r)), 'every counter revision');
    const revisions = topicEvents('sync.counter').map((e) => e.metadata.revision as number);
    expect(revisions.filter((r, i) => revisions.indexOf(r) !== i), 'a revision delivered twice').toEqual([]);
    // Publishes: delivered once each to the subscriber and to the webhook endpoint.
    await until(() => acked.pubs.every((p) => fed.some((m) => m.data === p)), 'every publish at the subscriber');
    expect(fed.map((m) => m.data)).toEqual(acked.pubs);
    const webhookKeys = [...acked.pubs.map((p) => `pub ${p}`), ...acked.docs.map((d) => `sync.created sync.${d} r1`), ...acked.revisions.map((r) => `sync.updated sync.counter r${r}`)];
    await until(() => webhookKeys.every((k) => deliveries.some((d) => d.key === k)), 'every webhook', 20_000);
    expectWebhooks(webhookKeys);
    // The feed is LISTENing again (not just polling).
    await until(listening, 'the change feed LISTENs again');
  });

  it('while the database refuses connections: 50001/503 and /readyz 503, sockets stay up; after, nothing acked is lost', async () => {
    const mark = server.logs.length;
    await db!.adminQuery(`ALTER DATABASE ${db!.name} ALLOW_CONNECTIONS false`);
    try {
      expect(await terminate()).toBeGreaterThanOrEqual(1);
      // Document requests fail at once with the store's code, as a retryable 503.
      for (const [what, request] of [
        ['create', () => docs.create('during-outage', { x: 1 })],
        ['get', () => docs.get('counter')],
        ['update', () => docs.update('counter', { x: 1 }, { revision: 1 })],
        ['list', () => docs.list()],
      ] as const) {
        const err = await (request as () => Promise<unknown>)().then(
          () => undefined,
          (e: unknown) => e,
        );
        expectUnreachable(err, what);
      }
      const ready = await fetch(`${server.http}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { error: { code: number } }).error.code).toBe(50001);
      // Channels do not need the database: publishes are acked and delivered meanwhile, and their
      // webhooks (whose outbox is in the database) must not be lost.
      for (let i = 0; i < 3; i++) await pub.channels.get('feed').publish('n', `outage-${i}`);
      await until(() => fed.some((m) => m.data === 'outage-2'), 'publishes during the outage');
      // Rows written meanwhile (this session was left alive) are captured by the trigger.
      const outageRows: number[] = [];
      for (let i = 0; i < 3; i++) outageRows.push((await dba.query('INSERT INTO orders (item) VALUES ($1) RETURNING id', [`outage-${i}`])).rows[0].id);
      // Wait until the change feed has been refused a new connection (it logs each failure), so its
      // recovery is really exercised, not just a reconnect that happened to come after the window.
      await until(
        () => server.logs.slice(mark).some((l) => l.includes('"change feed"') && l.includes('not currently accepting connections')),
        'the change feed to be refused a connection',
      );
      expect(server.proc.exitCode).toBeNull();
      expect(watcher.closed).toBeUndefined();

      await db!.adminQuery(`ALTER DATABASE ${db!.name} ALLOW_CONNECTIONS true`);
      await until(() => outageRows.every((id) => topicEvents('orders.changes').some((e) => (e.payload as { id: number }).id === id)), 'rows written during the outage', 15_000);
      const { rows } = await dba.query('INSERT INTO orders (item) VALUES ($1) RETURNING id', ['after']);
      await until(() => topicEvents('orders.changes').some((e) => (e.payload as { id: number }).id === rows[0].id), 'a row after the outage');
      const ids = topicEvents('orders.changes').map((e) => (e.payload as { id: number }).id);
      expect(ids.filter((id, i) => ids.indexOf(id) !== i), 'a row delivered twice').toEqual([]);
      expect(await docs.create('after-outage', { ok: true })).toMatchObject({ revision: 1 });
      expect((await fetch(`${server.http}/readyz`)).status).toBe(200);
      const keys = ['pub outage-0', 'pub outage-1', 'pub outage-2', 'sync.created sync.after-outage r1'];
      await until(() => keys.every((k) => deliveries.some((d) => d.key === k)), 'webhooks of the outage publishes and of the write after', 20_000);
      expectWebhooks(keys);
      await until(listening, 'the change feed LISTENs again');
    } finally {
      await db!.adminQuery(`ALTER DATABASE ${db!.name} ALLOW_CONNECTIONS true`).catch(() => {});
    }
  });
});
