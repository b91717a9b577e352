/**
 * One contract for every Store: the same cases run against SQLite (a temp file) and PostgreSQL
 * (a database made for this run on 127.0.0.1:5432, one schema per test so cases cannot see each other).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import {
  PostgresStore,
  RevisionConflictError,
  SqliteStore,
  openStore,
  type Store,
} from '../src/service/store/index.js';

// ---------------------------------------------------------------------------------------------
// PostgreSQL availability: a loud skip locally, a failure in CI.

const PG_HOST = '127.0.0.1:5432';

async function findPostgresAdmin(): Promise<string | undefined> {
  for (const user of ['postgres', 'root']) {
    const url = `postgres://${user}@${PG_HOST}/postgres`;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return url;
    } catch {
      // try the next user
    } finally {
      await client.end().catch(() => {});
    }
  }
  return undefined;
}

const adminUrl = await findPostgresAdmin();
if (!adminUrl) {
  if (process.env.CI) throw new Error(`PostgreSQL is not reachable on ${PG_HOST}: the CI machine must have it`);
  console.warn(`\n*** SKIPPING PostgreSQL store tests: nothing reachable on ${PG_HOST} ***\n`);
}

/** A pg client on the admin database, for creating/dropping the run's database and killing sessions. */
async function admin<T>(fn: (client: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const url = new URL(adminUrl!);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Backends: each hands out a fresh, empty place per test and a way to open stores on it.

interface Backend {
  kind: 'sqlite' | 'postgres';
  available: boolean;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A new empty place; the returned function opens (another) store on that same place. */
  fresh(): Promise<() => Store>;
}

let tmp = '';
let sequence = 0;

const sqliteBackend: Backend = {
  kind: 'sqlite',
  available: true,
  async setup() {
    tmp = mkdtempSync(join(tmpdir(), 'hubbub-store-'));
  },
  async teardown() {
    rmSync(tmp, { recursive: true, force: true });
  },
  async fresh() {
    const file = join(tmp, `store-${++sequence}.db`);
    return () => new SqliteStore(file);
  },
};

const runDatabase = `hubbub_test_${randomBytes(6).toString('hex')}`;

function runDatabaseUrl(searchPath?: string): string {
  const url = new URL(adminUrl!);
  url.pathname = `/${runDatabase}`;
  if (searchPath) url.searchParams.set('options', `-c search_path=${searchPath}`);
  return url.toString();
}

const postgresBackend: Backend = {
  kind: 'postgres',
  available: adminUrl !== undefined,
  async setup() {
    await admin((c) => c.query(`CREATE DATABASE ${runDatabase}`));
  },
  async teardown() {
    // FORCE terminates whatever sessions a failed test left behind.
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${runDatabase} WITH (FORCE)`));
  },
  async fresh() {
    const schema = `t${++sequence}`;
    await admin((c) => c.query(`CREATE SCHEMA ${schema}`), runDatabase);
    const url = runDatabaseUrl(schema);
    return () => new PostgresStore(url);
  },
};

// ---------------------------------------------------------------------------------------------

/** Rejection of `promise` as a HubbubError (fails the test if it resolves or throws something else). */
async function rejection(promise: Promise<unknown>): Promise<HubbubError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected the call to reject').toBeInstanceOf(HubbubError);
  return err as HubbubError;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each([sqliteBackend, postgresBackend])('Store contract: $kind', (backend) => {
  const opened: Store[] = [];
  let openOnPlace: () => Store;
  let store: Store;

  async function open(): Promise<Store> {
    const s = openOnPlace();
    opened.push(s);
    await s.init();
    return s;
  }

  beforeAll(async () => {
    if (backend.available) await backend.setup();
  });
  afterAll(async () => {
    if (backend.available) await backend.teardown();
  });

  // A fresh place per test, set up lazily inside each test via `start()` so skipIf cases stay cheap.
  async function start(): Promise<Store> {
    openOnPlace = await backend.fresh();
    store = await open();
    return store;
  }
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  const test = it.skipIf(!backend.available);

  test('reports its kind, pings, and init is idempotent', async () => {
    await start();
    expect(store.kind).toBe(backend.kind);
    await expect(store.ping()).resolves.toBeUndefined();
    await store.init();
    await expect(store.ping()).resolves.toBeUndefined();
  });

  test('creates a document at revision 1 and reads it back exactly', async () => {
    await start();
    const data = { z: 1, a: [1, 'two', null, { nested: true }], text: 'héllo ✓ 👋' };
    const before = Date.now();
    const created = await store.createDocument('app1', 'room/1', data);
    expect(created).toMatchObject({ name: 'room/1', data, revision: 1 });
    expect(created.createdAt).toBeGreaterThanOrEqual(before);
    expect(created.updatedAt).toBe(created.createdAt);
    const read = await store.getDocument('app1', 'room/1');
    expect(read).toEqual(created);
    // Key order survives: documents are stored as JSON text, not re-ordered.
    expect(Object.keys(read!.data as object)).toEqual(['z', 'a', 'text']);
    // Scalars are documents too.
    expect((await store.createDocument('app1', 'scalar', 42)).data).toBe(42);
    expect((await store.createDocument('app1', 'null', null)).data).toBeNull();
  });

  test('rejects data that is not JSON', async () => {
    await start();
    const err = await rejection(store.createDocument('app1', 'bad', undefined));
    expect(err.code).toBe(ErrorCode.BadFrame);
    expect(await store.getDocument('app1', 'bad')).toBeUndefined();
  });

  test('increments the revision on every write and keeps createdAt', async () => {
    await start();
    const created = await store.createDocument('app1', 'doc', { n: 0 });
    let doc = created;
    for (let n = 1; n <= 3; n++) {
      await sleep(2);
      const next = await store.updateDocument('app1', 'doc', { n }, doc.revision);
      expect(next.revision).toBe(doc.revision + 1);
      expect(next.data).toEqual({ n });
      expect(next.createdAt).toBe(created.createdAt);
      expect(next.updatedAt).toBeGreaterThan(doc.updatedAt);
      doc = next;
    }
    expect(await store.getDocument('app1', 'doc')).toEqual(doc);
    const deleted = await store.deleteDocument('app1', 'doc', doc.revision);
    expect(deleted).toMatchObject({ name: 'doc', data: { n: 3 }, revision: 5, createdAt: created.createdAt });
    expect(await store.getDocument('app1', 'doc')).toBeUndefined();
  });

  test('a stale update is a 40900 conflict carrying the current revision, and changes nothing', async () => {
    await start();
    await store.createDocument('app1', 'doc', { v: 1 });
    await store.updateDocument('app1', 'doc', { v: 2 }, 1);
    const err = await rejection(store.updateDocument('app1', 'doc', { v: 'lost' }, 1));
    expect(err).toBeInstanceOf(RevisionConflictError);
    expect(err.code).toBe(ErrorCode.Conflict);
    expect(err.statusCode).toBe(409);
    expect((err as RevisionConflictError).currentRevision).toBe(2);
    expect(err.message).toContain('doc');
    expect(err.toJSON()).toMatchObject({ code: 40900, currentRevision: 2 });
    expect(await store.getDocument('app1', 'doc')).toMatchObject({ data: { v: 2 }, revision: 2 });
    // A revision from the future is just as stale.
    const ahead = await rejection(store.updateDocument('app1', 'doc', { v: 'x' }, 7));
    expect((ahead as RevisionConflictError).currentRevision).toBe(2);
  });

  test('a stale delete is a 40900 conflict carrying the current revision, and keeps the document', async () => {
    await start();
    await store.createDocument('app1', 'doc', { v: 1 });
    await store.updateDocument('app1', 'doc', { v: 2 }, 1);
    const err = await rejection(store.deleteDocument('app1', 'doc', 1));
    expect(err).toBeInstanceOf(RevisionConflictError);
    expect(err.code).toBe(ErrorCode.Conflict);
    expect((err as RevisionConflictError).currentRevision).toBe(2);
    expect(await store.getDocument('app1', 'doc')).toMatchObject({ revision: 2 });
  });

  test('a missing document is 40400 for update and delete, undefined for get', async () => {
    await start();
    expect(await store.getDocument('app1', 'nope')).toBeUndefined();
    const update = await rejection(store.updateDocument('app1', 'nope', {}, 1));
    expect(update.code).toBe(ErrorCode.NotFound);
    expect(update.statusCode).toBe(404);
    expect(update.message).toContain('nope');
    expect((await rejection(store.deleteDocument('app1', 'nope'))).code).toBe(ErrorCode.NotFound);
    expect((await rejection(store.deleteDocument('app1', 'nope', 3))).code).toBe(ErrorCode.NotFound);
  });

  test('creating a document twice is a 40900 conflict naming it, and keeps the first', async () => {
    await start();
    await store.createDocument('app1', 'doc', { first: true });
    const err = await rejection(store.createDocument('app1', 'doc', { first: false }));
    expect(err.code).toBe(ErrorCode.Conflict);
    expect(err.message).toContain('"doc"');
    expect(await store.getDocument('app1', 'doc')).toMatchObject({ data: { first: true }, revision: 1 });
  });

  test('delete without a revision removes the document; it can then be created afresh', async () => {
    await start();
    await store.createDocument('app1', 'doc', { v: 1 });
    await store.updateDocument('app1', 'doc', { v: 2 }, 1);
    const deleted = await store.deleteDocument('app1', 'doc');
    expect(deleted).toMatchObject({ data: { v: 2 }, revision: 3 });
    expect((await rejection(store.deleteDocument('app1', 'doc'))).code).toBe(ErrorCode.NotFound);
    expect(await store.createDocument('app1', 'doc', { v: 'again' })).toMatchObject({ revision: 1 });
  });

  test('concurrent updates at one revision: exactly one wins', async () => {
    await start();
    await store.createDocument('app1', 'doc', { v: 0 });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.updateDocument('app1', 'doc', { v: i }, 1)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const r of lost) {
      expect(r.reason).toBeInstanceOf(RevisionConflictError);
      expect(r.reason.currentRevision).toBe(2);
    }
    expect((await store.getDocument('app1', 'doc'))!.revision).toBe(2);
  });

  test('lists documents sorted by name, filtered by a literal prefix', async () => {
    await start();
    const names = ['b', 'a_b/1', 'axb/1', 'a%c', 'abc', 'A_b', 'a_', 'a\\b', '%x', 'é', 'a'];
    for (const name of names) await store.createDocument('app1', name, { name });
    const listed = await store.listDocuments('app1');
    // Binary (code point) order on both backends, whatever the database locale.
    expect(listed.map((d) => d.name)).toEqual([...names].sort());
    expect(listed.find((d) => d.name === 'abc')).toMatchObject({ data: { name: 'abc' }, revision: 1 });
    const withPrefix = async (prefix: string) =>
      (await store.listDocuments('app1', { prefix })).map((d) => d.name);
    expect(await withPrefix('a_')).toEqual(['a_', 'a_b/1']); // `_` is not "any character"
    expect(await withPrefix('a%')).toEqual(['a%c']); // `%` is not "anything"
    expect(await withPrefix('%')).toEqual(['%x']);
    expect(await withPrefix('a\\')).toEqual(['a\\b']);
    expect(await withPrefix('A')).toEqual(['A_b']); // case-sensitive
    expect(await withPrefix('ab')).toEqual(['abc']);
    expect(await withPrefix('abc')).toEqual(['abc']);
    expect(await withPrefix('zzz')).toEqual([]);
    expect(await withPrefix('')).toHaveLength(names.length);
    expect(await store.listDocuments('empty-app')).toEqual([]);
  });

  test('lists a page at a time: at most `limit`, after a name, in name order', async () => {
    await start();
    const names = ['d', 'b', 'a', 'e', 'c', 'b.1', 'b.2'];
    for (const name of names) await store.createDocument('app1', name, { name });
    await store.createDocument('app2', 'a0', {});
    const page = async (options: { prefix?: string; after?: string; limit?: number }) =>
      (await store.listDocuments('app1', options)).map((d) => d.name);
    expect(await page({ limit: 3 })).toEqual(['a', 'b', 'b.1']);
    expect(await page({ limit: 3, after: 'b.1' })).toEqual(['b.2', 'c', 'd']);
    expect(await page({ limit: 3, after: 'd' })).toEqual(['e']);
    expect(await page({ limit: 3, after: 'e' })).toEqual([]);
    // `after` need not be a name that exists; it is a bound in name order.
    expect(await page({ limit: 2, after: 'b.15' })).toEqual(['b.2', 'c']);
    // With a prefix: the page stays inside it.
    expect(await page({ prefix: 'b', limit: 2 })).toEqual(['b', 'b.1']);
    expect(await page({ prefix: 'b', limit: 2, after: 'b.1' })).toEqual(['b.2']);
    expect(await page({ prefix: 'b.', after: 'a' })).toEqual(['b.1', 'b.2']);
    // Without a limit, everything after the bound.
    expect(await page({ after: 'c' })).toEqual(['d', 'e']);
  });

  test('an app holds at most maxDocuments: past it a create is 42900, and nothing is written', async () => {
    await start();
    for (let i = 1; i <= 3; i++) await store.createDocument('app1', `doc${i}`, { i }, { maxDocuments: 3 });
    const full = await rejection(store.createDocument('app1', 'doc4', {}, { maxDocuments: 3 }));
    expect(full.code).toBe(ErrorCode.RateLimited);
    expect(full.statusCode).toBe(429);
    expect(full.message).toMatch(/3 documents/);
    expect(await store.getDocument('app1', 'doc4')).toBeUndefined();
    // A name that exists is still "exists" (40900), full or not.
    expect((await rejection(store.createDocument('app1', 'doc1', {}, { maxDocuments: 3 }))).code).toBe(ErrorCode.Conflict);
    // Updates are not creates.
    expect(await store.updateDocument('app1', 'doc1', { i: 'one' }, 1)).toMatchObject({ revision: 2 });
    // Other apps have their own count.
    expect(await store.createDocument('app2', 'doc4', {}, { maxDocuments: 3 })).toMatchObject({ revision: 1 });
    // A delete frees a place.
    await store.deleteDocument('app1', 'doc2');
    expect(await store.createDocument('app1', 'doc4', {}, { maxDocuments: 3 })).toMatchObject({ revision: 1 });
    expect((await rejection(store.createDocument('app1', 'doc5', {}, { maxDocuments: 3 }))).code).toBe(ErrorCode.RateLimited);
    expect(await store.listDocuments('app1')).toHaveLength(3);
  });

  test('concurrent creates, from two stores on one place, cannot pass maxDocuments', async () => {
    await start();
    const other = await open();
    await store.createDocument('app1', 'first', {}, { maxDocuments: 5 });
    const results = await Promise.allSettled(
      Array.from({ length: 24 }, (_, i) => (i % 2 ? store : other).createDocument('app1', `race${i}`, { i }, { maxDocuments: 5 })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(4);
    for (const r of lost) expect(r.reason).toMatchObject({ code: ErrorCode.RateLimited });
    expect(await store.listDocuments('app1')).toHaveLength(5);
  });

  test('apps are isolated from each other', async () => {
    await start();
    await store.createDocument('app1', 'shared', { owner: 1 });
    await store.createDocument('app2', 'shared', { owner: 2 });
    await store.updateDocument('app1', 'shared', { owner: 1, v: 2 }, 1);
    expect(await store.getDocument('app2', 'shared')).toMatchObject({ data: { owner: 2 }, revision: 1 });
    expect((await store.listDocuments('app2')).map((d) => d.data)).toEqual([{ owner: 2 }]);
    await store.deleteDocument('app2', 'shared');
    expect(await store.getDocument('app2', 'shared')).toBeUndefined();
    expect(await store.getDocument('app1', 'shared')).toMatchObject({ revision: 2 });
    expect((await rejection(store.updateDocument('app3', 'shared', {}, 2))).code).toBe(ErrorCode.NotFound);
  });

  test('everything survives closing and reopening the store', async () => {
    await start();
    await store.createDocument('app1', 'doc', { v: 1 });
    await store.updateDocument('app1', 'doc', { v: 2 }, 1);
    await store.enqueueWebhook({ app: 'app1', endpoint: 'https://e.test/h', eventId: 'evt-1', payload: '{"a":1}' });
    await store.setPosition('changefeed', '0/16B3748');
    await store.close();
    opened.splice(opened.indexOf(store), 1);

    const reopened = await open();
    expect(await reopened.getDocument('app1', 'doc')).toMatchObject({ data: { v: 2 }, revision: 2 });
    expect(await reopened.webhookQueueDepth()).toBe(1);
    expect((await reopened.dueWebhooks(Date.now(), 10))[0]).toMatchObject({ eventId: 'evt-1', payload: '{"a":1}' });
    expect(await reopened.getPosition('changefeed')).toBe('0/16B3748');
    // Revisions carry on from where they were.
    expect(await reopened.updateDocument('app1', 'doc', { v: 3 }, 2)).toMatchObject({ revision: 3 });
  });

  test('outbox: enqueued items are due at once, oldest first, up to the limit', async () => {
    await start();
    expect(await store.webhookQueueDepth()).toBe(0);
    expect(await store.dueWebhooks(Date.now(), 10)).toEqual([]);
    const before = Date.now();
    for (let i = 1; i <= 3; i++) {
      await store.enqueueWebhook({ app: 'app1', endpoint: `https://e.test/${i}`, eventId: `evt-${i}`, payload: `{"i":${i}}` });
    }
    expect(await store.webhookQueueDepth()).toBe(3);
    expect(await store.dueWebhooks(before - 1, 10)).toEqual([]); // not due before they were enqueued
    const due = await store.dueWebhooks(Date.now(), 10);
    expect(due.map((d) => d.eventId)).toEqual(['evt-1', 'evt-2', 'evt-3']);
    expect(due[0]).toMatchObject({
      app: 'app1',
      endpoint: 'https://e.test/1',
      eventId: 'evt-1',
      payload: '{"i":1}',
      attempts: 0,
    });
    expect(typeof due[0]!.id).toBe('number');
    expect(due[0]!.nextAttemptAt).toBeGreaterThanOrEqual(before);
    expect(due[0]!.lastError).toBeUndefined();
    expect((await store.dueWebhooks(Date.now(), 2)).map((d) => d.eventId)).toEqual(['evt-1', 'evt-2']);
    // Reading due items does not take them: at-least-once means they stay until delivered.
    expect(await store.webhookQueueDepth()).toBe(3);
  });

  test('outbox: reschedule counts the attempt, records the error and delays the item', async () => {
    await start();
    await store.enqueueWebhook({ app: 'app1', endpoint: 'https://e.test/a', eventId: 'a', payload: '1' });
    await store.enqueueWebhook({ app: 'app1', endpoint: 'https://e.test/b', eventId: 'b', payload: '2' });
    const [first] = await store.dueWebhooks(Date.now(), 1);
    expect(first!.eventId).toBe('a');

    const later = Date.now() + 60_000;
    await store.rescheduleWebhook(first!.id, later, 'HTTP 503');
    expect((await store.dueWebhooks(Date.now(), 10)).map((d) => d.eventId)).toEqual(['b']);
    expect(await store.webhookQueueDepth()).toBe(2); // delayed, not dropped

    const atLater = await store.dueWebhooks(later, 10);
    expect(atLater.map((d) => d.eventId)).toEqual(['b', 'a']); // ordered by due time
    expect(atLater[1]).toMatchObject({ id: first!.id, attempts: 1, nextAttemptAt: later, lastError: 'HTTP 503' });

    await store.rescheduleWebhook(first!.id, later + 1, 'timeout');
    expect((await store.dueWebhooks(later + 1, 10))[1]).toMatchObject({ attempts: 2, lastError: 'timeout' });
    await store.rescheduleWebhook(999_999, later, 'unknown id is ignored');
    expect(await store.webhookQueueDepth()).toBe(2);
  });

  test('outbox: delivered items disappear and the depth follows', async () => {
    await start();
    for (const id of ['x', 'y', 'z']) {
      await store.enqueueWebhook({ app: 'app1', endpoint: 'https://e.test/h', eventId: id, payload: id });
    }
    const due = await store.dueWebhooks(Date.now(), 10);
    await store.markWebhookDelivered(due[1]!.id);
    expect(await store.webhookQueueDepth()).toBe(2);
    expect((await store.dueWebhooks(Date.now(), 10)).map((d) => d.eventId)).toEqual(['x', 'z']);
    await store.markWebhookDelivered(due[1]!.id); // a repeated ack is harmless
    await store.markWebhookDelivered(due[0]!.id);
    await store.markWebhookDelivered(due[2]!.id);
    expect(await store.webhookQueueDepth()).toBe(0);
    expect(await store.dueWebhooks(Date.now() + 3_600_000, 10)).toEqual([]);
    // Ids are never reused, so a late ack for an old id cannot remove a new item.
    await store.enqueueWebhook({ app: 'app1', endpoint: 'https://e.test/h', eventId: 'new', payload: 'n' });
    const [fresh] = await store.dueWebhooks(Date.now(), 10);
    expect(due.map((d) => d.id)).not.toContain(fresh!.id);
  });

  test('outbox: the same event for the same endpoint is queued once while pending', async () => {
    await start();
    const item = { app: 'app1', endpoint: 'https://e.test/h', eventId: 'evt', payload: 'p' };
    await store.enqueueWebhook(item);
    await store.enqueueWebhook(item);
    expect(await store.webhookQueueDepth()).toBe(1);
    await store.enqueueWebhook({ ...item, endpoint: 'https://e.test/other' });
    await store.enqueueWebhook({ ...item, app: 'app2' });
    expect(await store.webhookQueueDepth()).toBe(3);
  });

  test('outbox: a batch is stored in its order in one step; duplicates, in it or already pending, once', async () => {
    await start();
    await store.enqueueWebhooks([]);
    await store.enqueueWebhook({ app: 'app1', endpoint: 'https://e.test/h', eventId: 'pending', payload: 'p0' });
    const batch = ['b3', 'b1', 'pending', 'b2', 'b1'].map((eventId, i) => ({ app: 'app1', endpoint: 'https://e.test/h', eventId, payload: `p${i}` }));
    await store.enqueueWebhooks(batch);
    const due = await store.dueWebhooks(Date.now(), 10);
    expect(due.map((d) => [d.eventId, d.payload])).toEqual([['pending', 'p0'], ['b3', 'p0'], ['b1', 'p1'], ['b2', 'p3']]);
    expect(due.every((d) => d.attempts === 0)).toBe(true);
    expect(await store.webhookQueueDepth()).toBe(4);
  });

  test('outbox: a batch with an item the store refuses stores none of it', async () => {
    await start();
    const bad = { app: 'app1', endpoint: 'https://e.test/h', eventId: 'bad', payload: null as unknown as string };
    const good = (eventId: string) => ({ app: 'app1', endpoint: 'https://e.test/h', eventId, payload: eventId });
    await expect(store.enqueueWebhooks([good('a'), bad, good('c')])).rejects.toThrow();
    expect(await store.webhookQueueDepth()).toBe(0);
    await store.enqueueWebhooks([good('a'), good('c')]);
    expect(await store.webhookQueueDepth()).toBe(2);
  });

  test('outbox: due items of one endpoint of one app, leaving out the excluded ids', async () => {
    await start();
    const items = [
      ['app1', 'https://e.test/a', 'a1'],
      ['app1', 'https://e.test/b', 'b1'],
      ['app2', 'https://e.test/a', 'other-app'],
      ['app1', 'https://e.test/a', 'a2'],
      ['app1', 'https://e.test/a', 'a3'],
    ].map(([app, endpoint, eventId]) => ({ app: app!, endpoint: endpoint!, eventId: eventId!, payload: eventId! }));
    await store.enqueueWebhooks(items);
    const a = { app: 'app1', endpoint: 'https://e.test/a' };
    const due = await store.dueWebhooks(Date.now(), 10, a);
    expect(due.map((d) => d.eventId)).toEqual(['a1', 'a2', 'a3']);
    expect((await store.dueWebhooks(Date.now(), 2, a)).map((d) => d.eventId)).toEqual(['a1', 'a2']);
    expect((await store.dueWebhooks(Date.now(), 10, { ...a, exclude: [due[0]!.id, due[2]!.id, 999_999] })).map((d) => d.eventId)).toEqual(['a2']);
    expect((await store.dueWebhooks(Date.now(), 10, { ...a, exclude: [] })).map((d) => d.eventId)).toEqual(['a1', 'a2', 'a3']);
    expect(await store.dueWebhooks(Date.now(), 10, { app: 'app2', endpoint: 'https://e.test/b' })).toEqual([]);
    // Rescheduled items come after those already due, and not before their time.
    await store.rescheduleWebhook(due[0]!.id, Date.now() + 60_000, 'HTTP 500');
    expect((await store.dueWebhooks(Date.now(), 10, a)).map((d) => d.eventId)).toEqual(['a2', 'a3']);
    expect((await store.dueWebhooks(Date.now() + 60_000, 10, a)).map((d) => d.eventId)).toEqual(['a2', 'a3', 'a1']);
  });

  test('outbox: settling removes the delivered and reschedules the failed, in one step', async () => {
    await start();
    await store.enqueueWebhooks(['x', 'y', 'z', 'w'].map((eventId) => ({ app: 'app1', endpoint: 'https://e.test/h', eventId, payload: eventId })));
    const [x, y, z, w] = await store.dueWebhooks(Date.now(), 10);
    const later = Date.now() + 60_000;
    await store.settleWebhooks({ delivered: [], failed: [] });
    await store.settleWebhooks({
      delivered: [x!.id, z!.id, 999_999],
      failed: [
        { id: y!.id, nextAttemptAt: later, lastError: 'HTTP 503' },
        { id: 999_998, nextAttemptAt: later, lastError: 'unknown ids are ignored' },
      ],
    });
    expect(await store.webhookQueueDepth()).toBe(2);
    expect((await store.dueWebhooks(Date.now(), 10)).map((d) => d.eventId)).toEqual(['w']);
    expect((await store.dueWebhooks(later, 10))[1]).toMatchObject({ id: y!.id, attempts: 1, nextAttemptAt: later, lastError: 'HTTP 503' });
    await store.settleWebhooks({ delivered: [w!.id, x!.id], failed: [{ id: y!.id, nextAttemptAt: later + 1, lastError: 'timeout' }] });
    expect(await store.dueWebhooks(later + 1, 10)).toMatchObject([{ id: y!.id, attempts: 2, lastError: 'timeout' }]);
  });

  test('outbox: the backlog counts pending items and their UTF-8 bytes per endpoint of each app', async () => {
    await start();
    expect(await store.webhookBacklog()).toEqual([]);
    const payload = '{"text":"héllo 👋"}'; // more bytes than characters
    await store.enqueueWebhooks([
      { app: 'app1', endpoint: 'https://e.test/a', eventId: '1', payload },
      { app: 'app1', endpoint: 'https://e.test/a', eventId: '2', payload: 'ab' },
      { app: 'app1', endpoint: 'https://e.test/b', eventId: '1', payload },
      { app: 'app2', endpoint: 'https://e.test/a', eventId: '1', payload: 'abc' },
    ]);
    const order = (rows: Array<{ app: string; endpoint: string }>) => [...rows].sort((p, q) => `${p.app} ${p.endpoint}`.localeCompare(`${q.app} ${q.endpoint}`));
    expect(order(await store.webhookBacklog())).toEqual([
      { app: 'app1', endpoint: 'https://e.test/a', count: 2, bytes: Buffer.byteLength(payload) + 2 },
      { app: 'app1', endpoint: 'https://e.test/b', count: 1, bytes: Buffer.byteLength(payload) },
      { app: 'app2', endpoint: 'https://e.test/a', count: 1, bytes: 3 },
    ]);
    const [first] = await store.dueWebhooks(Date.now(), 1, { app: 'app2', endpoint: 'https://e.test/a' });
    await store.settleWebhooks({ delivered: [first!.id], failed: [] });
    expect(order(await store.webhookBacklog()).map((b) => b.app)).toEqual(['app1', 'app1']);
  });

  test('positions: unset is undefined, set overwrites', async () => {
    await start();
    expect(await store.getPosition('feed')).toBeUndefined();
    await store.setPosition('feed', '1');
    await store.setPosition('other', 'x');
    await store.setPosition('feed', '2');
    expect(await store.getPosition('feed')).toBe('2');
    expect(await store.getPosition('other')).toBe('x');
  });
});

// ---------------------------------------------------------------------------------------------
// What only one backend can show.

describe('PostgresStore connections', () => {
  const test = it.skipIf(!adminUrl);
  const stores: Store[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
  });
  beforeAll(async () => {
    if (adminUrl) await admin((c) => c.query(`CREATE DATABASE ${runDatabase}_conn`));
  });
  afterAll(async () => {
    if (adminUrl) await admin((c) => c.query(`DROP DATABASE IF EXISTS ${runDatabase}_conn WITH (FORCE)`));
  });

  const connUrl = () => {
    const url = new URL(adminUrl!);
    url.pathname = `/${runDatabase}_conn`;
    return url.toString();
  };

  async function terminateStoreSessions(): Promise<number> {
    const res = await admin((c) =>
      c.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'hubbub' AND pid <> pg_backend_pid()`,
        [`${runDatabase}_conn`],
      ),
    );
    return res.rowCount ?? 0;
  }

  test('survives pg_terminate_backend of its connections: the next call reconnects', async () => {
    const store = await openStore({ postgres: connUrl(), dataDir: '/nonexistent-unused' });
    stores.push(store);
    expect(store.kind).toBe('postgres');
    await store.createDocument('app1', 'doc', { v: 1 });

    for (let round = 1; round <= 3; round++) {
      // Several sessions in the pool, all idle when killed.
      await Promise.all([store.ping(), store.ping(), store.ping()]);
      expect(await terminateStoreSessions()).toBeGreaterThan(0);
      // Straight away: pg may still hand out a killed session before it notices.
      expect(await store.getDocument('app1', 'doc')).toMatchObject({ revision: round });
      expect(await store.updateDocument('app1', 'doc', { v: round + 1 }, round)).toMatchObject({ revision: round + 1 });
    }

    // And after the kill has been noticed by the idle clients (the pool's 'error' path).
    await store.ping();
    expect(await terminateStoreSessions()).toBeGreaterThan(0);
    await sleep(200);
    await expect(store.ping()).resolves.toBeUndefined();
    expect(await store.listDocuments('app1')).toHaveLength(1);
  });

  test('a create under maxDocuments (a transaction) survives pg_terminate_backend too', async () => {
    const store = await openStore({ postgres: connUrl(), dataDir: '/nonexistent-unused' });
    stores.push(store);
    for (let round = 1; round <= 3; round++) {
      await Promise.all([store.ping(), store.ping(), store.ping()]);
      expect(await terminateStoreSessions()).toBeGreaterThan(0);
      const outcome = await store.createDocument('quota-app', `doc${round}`, { round }, { maxDocuments: 2 }).catch((e: HubbubError) => e.code);
      expect(outcome).toEqual(round <= 2 ? expect.objectContaining({ revision: 1 }) : ErrorCode.RateLimited);
    }
    expect(await store.listDocuments('quota-app')).toHaveLength(2);
  });

  test('init creates the prefixed tables, and a second store on the same database shares them', async () => {
    const a = new PostgresStore(connUrl());
    const b = new PostgresStore(connUrl());
    stores.push(a, b);
    await Promise.all([a.init(), b.init()]); // concurrent schema creation must not race
    const tables = await admin(
      (c) => c.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE tablename LIKE 'hubbub\\_%' ORDER BY 1"),
      `${runDatabase}_conn`,
    );
    expect(tables.rows.map((r) => r.tablename)).toEqual(['hubbub_documents', 'hubbub_positions', 'hubbub_webhook_outbox']);
    await a.setPosition('shared', 'from-a');
    expect(await b.getPosition('shared')).toBe('from-a');
  });
});

describe('openStore', () => {
  let dir = '';
  const stores: Store[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hubbub-open-'));
  });
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('defaults to SQLite at <dataDir>/hubbub.db, creating the directory', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const store = await openStore({ dataDir });
    stores.push(store);
    expect(store.kind).toBe('sqlite');
    expect(existsSync(join(dataDir, 'hubbub.db'))).toBe(true);
    await store.setPosition('k', 'v');
  });

  it('accepts :memory: for SQLite', async () => {
    const store = new SqliteStore(':memory:');
    stores.push(store);
    await store.init();
    await store.createDocument('a', 'd', 1);
    expect(await store.getDocument('a', 'd')).toMatchObject({ revision: 1 });
  });

  it('fails with 50001 when PostgreSQL is unreachable, and ping rejects', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/nothing';
    const err = await rejection(openStore({ postgres: url, dataDir: dir }));
    expect(err.code).toBe(ErrorCode.Bootstrap);
    const store = new PostgresStore(url);
    stores.push(store);
    expect((await rejection(store.ping())).code).toBe(ErrorCode.Bootstrap);
  });
});
