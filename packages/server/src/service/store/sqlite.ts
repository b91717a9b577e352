/**
 * The default Store: one SQLite file, no service to run. better-sqlite3 is synchronous, so every
 * statement runs to completion before another starts in this process; a conditional
 * `UPDATE ... WHERE revision = ?` is still used so a second process on the same file stays safe.
 */
import { closeSync, openSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { optionalDependency } from '../../core/optional-dependency.js';
import {
  asDeleted,
  documentExists,
  documentNotFound,
  documentQuotaReached,
  encodeData,
  RevisionConflictError,
  toBacklog,
  toDocument,
  toOutboxItem,
  type BacklogRow,
  type CreateDocumentOptions,
  type DocumentRow,
  type DueWebhooksFilter,
  type ListDocumentsOptions,
  type OutboxItem,
  type OutboxRow,
  type Store,
  type SyncDocument,
  type WebhookBacklog,
  type WebhookItem,
  type WebhookSettlement,
} from './store.js';

// AUTOINCREMENT: a delivered item's id is never handed to a new item, so a late
// markWebhookDelivered(oldId) can never delete an undelivered webhook.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS hubbub_documents (
  app TEXT NOT NULL,
  name TEXT NOT NULL,
  data TEXT NOT NULL,
  revision INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (app, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hubbub_webhook_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  app TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  event_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_error TEXT,
  UNIQUE (app, endpoint, event_id)
);
CREATE INDEX IF NOT EXISTS hubbub_webhook_outbox_due ON hubbub_webhook_outbox (next_attempt_at, id);
CREATE INDEX IF NOT EXISTS hubbub_webhook_outbox_endpoint_due ON hubbub_webhook_outbox (app, endpoint, next_attempt_at, id);
CREATE TABLE IF NOT EXISTS hubbub_positions (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

const DOC_COLUMNS = 'name, data, revision, created_at, updated_at';

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private handle?: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly path: string) {}

  async init(): Promise<void> {
    if (this.handle) return;
    // Made owner-only before SQLite opens it: its -wal and -shm files then get the same mode.
    if (this.path !== ':memory:') closeSync(openSync(this.path, 'a', 0o600));
    const Driver = optionalDependency<typeof Database>('better-sqlite3', 'The SQLite store (the default)', 'give --postgres URL');
    const db = new Driver(this.path);
    try {
      // WAL lets readers (admin page, another CLI process) run while the server writes.
      // synchronous stays FULL (the default): an acked write or enqueued webhook survives power loss.
      db.pragma('journal_mode = WAL');
      // Wait for a lock held by another process instead of failing at once with SQLITE_BUSY.
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
    } catch (err) {
      db.close();
      throw err;
    }
    this.handle = db;
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.handle?.close();
    this.handle = undefined;
  }

  async ping(): Promise<void> {
    this.stmt('SELECT 1').get();
  }

  async createDocument(app: string, name: string, data: unknown, options: CreateDocumentOptions = {}): Promise<SyncDocument> {
    const now = Date.now();
    const text = encodeData(data);
    const { maxDocuments } = options;
    if (maxDocuments === undefined) {
      const row = this.stmt(
        `INSERT INTO hubbub_documents (app, name, data, revision, created_at, updated_at)
         VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (app, name) DO NOTHING RETURNING ${DOC_COLUMNS}`,
      ).get(app, name, text, now, now) as DocumentRow | undefined;
      if (!row) throw documentExists(name);
      return toDocument(row);
    }
    // One statement is one write transaction, and SQLite lets one writer in at a time (in this
    // process or another on the file): the count it reads cannot change before its insert.
    const row = this.stmt(
      `INSERT INTO hubbub_documents (app, name, data, revision, created_at, updated_at)
       SELECT ?, ?, ?, 1, ?, ? WHERE (SELECT count(*) FROM hubbub_documents WHERE app = ?) < ?
       ON CONFLICT (app, name) DO NOTHING RETURNING ${DOC_COLUMNS}`,
    ).get(app, name, text, now, now, app, maxDocuments) as DocumentRow | undefined;
    if (row) return toDocument(row);
    throw this.stmt('SELECT 1 FROM hubbub_documents WHERE app = ? AND name = ?').get(app, name) ? documentExists(name) : documentQuotaReached(maxDocuments);
  }

  async getDocument(app: string, name: string): Promise<SyncDocument | undefined> {
    const row = this.stmt(`SELECT ${DOC_COLUMNS} FROM hubbub_documents WHERE app = ? AND name = ?`).get(
      app,
      name,
    ) as DocumentRow | undefined;
    return row && toDocument(row);
  }

  async updateDocument(app: string, name: string, data: unknown, expectedRevision: number): Promise<SyncDocument> {
    const row = this.stmt(
      `UPDATE hubbub_documents SET data = ?, revision = revision + 1, updated_at = ?
       WHERE app = ? AND name = ? AND revision = ? RETURNING ${DOC_COLUMNS}`,
    ).get(encodeData(data), Date.now(), app, name, expectedRevision) as DocumentRow | undefined;
    if (row) return toDocument(row);
    throw this.whyNoMatch(app, name, expectedRevision);
  }

  async deleteDocument(app: string, name: string, expectedRevision?: number): Promise<SyncDocument> {
    const row = this.stmt(
      `DELETE FROM hubbub_documents WHERE app = ? AND name = ? AND (? IS NULL OR revision = ?)
       RETURNING ${DOC_COLUMNS}`,
    ).get(app, name, expectedRevision ?? null, expectedRevision ?? null) as DocumentRow | undefined;
    if (row) return asDeleted(toDocument(row), Date.now());
    throw this.whyNoMatch(app, name, expectedRevision ?? 0);
  }

  async listDocuments(app: string, options: ListDocumentsOptions = {}): Promise<SyncDocument[]> {
    const prefix = options.prefix ?? '';
    const after = options.after ?? '';
    // Not LIKE: SQLite's LIKE ignores ASCII case. `name >= prefix` lets the primary key start the
    // scan at the prefix; the substr test is the exact, wildcard-free match. LIMIT -1 is no limit.
    const rows = this.stmt(
      `SELECT ${DOC_COLUMNS} FROM hubbub_documents
       WHERE app = ? AND name >= ? AND name > ? AND substr(name, 1, length(?)) = ? ORDER BY name LIMIT ?`,
    ).all(app, prefix, after, prefix, prefix, options.limit ?? -1) as DocumentRow[];
    return rows.map(toDocument);
  }

  async enqueueWebhook(item: WebhookItem): Promise<void> {
    await this.enqueueWebhooks([item]);
  }

  async enqueueWebhooks(items: readonly WebhookItem[]): Promise<void> {
    if (items.length === 0) return;
    const insert = this.stmt(
      `INSERT INTO hubbub_webhook_outbox (app, endpoint, event_id, payload, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (app, endpoint, event_id) DO NOTHING`,
    );
    const now = Date.now();
    // One transaction: one commit (one sync to disk) for the batch instead of one per item.
    this.transaction(() => {
      for (const item of items) insert.run(item.app, item.endpoint, item.eventId, item.payload, now, now);
    });
  }

  async dueWebhooks(now: number, limit: number, filter?: DueWebhooksFilter): Promise<OutboxItem[]> {
    const columns = 'id, app, endpoint, event_id, payload, attempts, next_attempt_at, created_at, last_error';
    const rows = filter
      ? (this.stmt(
          `SELECT ${columns} FROM hubbub_webhook_outbox
           WHERE app = ? AND endpoint = ? AND next_attempt_at <= ? AND id NOT IN (SELECT value FROM json_each(?))
           ORDER BY next_attempt_at, id LIMIT ?`,
        ).all(filter.app, filter.endpoint, now, JSON.stringify(filter.exclude ?? []), Math.max(0, Math.floor(limit))) as OutboxRow[])
      : (this.stmt(
          `SELECT ${columns} FROM hubbub_webhook_outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
        ).all(now, Math.max(0, Math.floor(limit))) as OutboxRow[]);
    return rows.map(toOutboxItem);
  }

  async markWebhookDelivered(id: number): Promise<void> {
    await this.settleWebhooks({ delivered: [id], failed: [] });
  }

  async rescheduleWebhook(id: number, nextAttemptAt: number, lastError: string): Promise<void> {
    await this.settleWebhooks({ delivered: [], failed: [{ id, nextAttemptAt, lastError }] });
  }

  async settleWebhooks(settlement: WebhookSettlement): Promise<void> {
    if (settlement.delivered.length === 0 && settlement.failed.length === 0) return;
    const remove = this.stmt('DELETE FROM hubbub_webhook_outbox WHERE id = ?');
    const reschedule = this.stmt(
      `UPDATE hubbub_webhook_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
       WHERE id = ?`,
    );
    this.transaction(() => {
      for (const id of settlement.delivered) remove.run(id);
      for (const { id, nextAttemptAt, lastError } of settlement.failed) reschedule.run(nextAttemptAt, lastError, id);
    });
  }

  async webhookQueueDepth(): Promise<number> {
    const row = this.stmt('SELECT count(*) AS n FROM hubbub_webhook_outbox').get() as { n: number };
    return row.n;
  }

  async webhookBacklog(): Promise<WebhookBacklog[]> {
    // octet_length, not length: bytes (what the bound counts), and it need not decode the text.
    const rows = this.stmt(
      `SELECT app, endpoint, count(*) AS count, coalesce(sum(octet_length(payload)), 0) AS bytes
       FROM hubbub_webhook_outbox GROUP BY app, endpoint`,
    ).all() as BacklogRow[];
    return rows.map(toBacklog);
  }

  async getPosition(key: string): Promise<string | undefined> {
    const row = this.stmt('SELECT value FROM hubbub_positions WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  async setPosition(key: string, value: string): Promise<void> {
    this.stmt(
      `INSERT INTO hubbub_positions (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    ).run(key, value, Date.now());
  }

  /** better-sqlite3 compiles SQL on every prepare(); each distinct statement is compiled once. */
  private stmt(sql: string): Database.Statement {
    if (!this.handle) throw new Error('SqliteStore used before init() or after close()');
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.handle.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** `work` in one transaction (better-sqlite3's: committed when it returns, rolled back when it throws). */
  private transaction(work: () => void): void {
    if (!this.handle) throw new Error('SqliteStore used before init() or after close()');
    this.handle.transaction(work)();
  }

  /** The conditional write matched nothing: tell "gone" from "moved on". */
  private whyNoMatch(app: string, name: string, expectedRevision: number): Error {
    const current = this.stmt('SELECT revision FROM hubbub_documents WHERE app = ? AND name = ?').get(
      app,
      name,
    ) as { revision: number } | undefined;
    if (!current) return documentNotFound(name);
    return new RevisionConflictError(name, expectedRevision, current.revision);
  }
}
