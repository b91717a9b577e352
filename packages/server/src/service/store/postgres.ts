/**
 * The shared Store for many nodes: PostgreSQL through a pg Pool. Every document write is one
 * conditional statement (`... WHERE revision = $expected`), so it is atomic without an explicit
 * transaction and two nodes racing on one revision cannot both win.
 */
import type pg from 'pg';
import { optionalDependency } from '../../core/optional-dependency.js';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import {
  asDeleted,
  documentExists,
  documentNotFound,
  documentQuotaReached,
  encodeData,
  escapeLike,
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

// name is COLLATE "C": ORDER BY matches SQLite's binary order whatever the database locale, and the
// primary key can serve `LIKE 'prefix%'` as a range scan.
// GENERATED ... AS IDENTITY never reuses an id, so a late markWebhookDelivered(oldId) is harmless.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS hubbub_documents (
  app TEXT NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  data TEXT NOT NULL,
  revision BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (app, name)
);
CREATE TABLE IF NOT EXISTS hubbub_webhook_outbox (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  app TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  event_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  last_error TEXT,
  UNIQUE (app, endpoint, event_id)
);
CREATE INDEX IF NOT EXISTS hubbub_webhook_outbox_due ON hubbub_webhook_outbox (next_attempt_at, id);
CREATE INDEX IF NOT EXISTS hubbub_webhook_outbox_endpoint_due ON hubbub_webhook_outbox (app, endpoint, next_attempt_at, id);
CREATE TABLE IF NOT EXISTS hubbub_positions (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
`;

const DOC_COLUMNS = 'name, data, revision, created_at, updated_at';

/** SQLSTATEs PostgreSQL sends when it ends a session: 57P01 is pg_terminate_backend, 57P02 a crash. */
const SESSION_ENDED = new Set(['57P01', '57P02', 'ECONNRESET', 'EPIPE']);
/** Failures to reach the server at all: reported as 50001, not retried (it would only wait twice). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', '57P03', '08000', '08001', '08003', '08006']);

/** Attempts of one statement when the session under it turns out to be dead. */
const DEAD_SESSION_RETRIES = 4;

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The session under this query died (it was killed while idle in the pool, or mid-query). */
function isDeadSession(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = codeOf(err);
  if (code !== undefined && SESSION_ENDED.has(code)) return true;
  // pg raises these without a code when a pooled client's socket died under it.
  return /Connection terminated unexpectedly|not queryable/i.test(err.message);
}

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = codeOf(err);
  if (code !== undefined && UNREACHABLE.has(code)) return true;
  return isDeadSession(err) || /timeout|Connection terminated/i.test(err.message);
}

export interface PostgresStoreOptions {
  /** Pool size; default 10. */
  max?: number;
  /** Give up on a new connection after this long instead of hanging (pg's default is forever). */
  connectionTimeoutMillis?: number;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private closed = false;

  constructor(readonly url: string, options: PostgresStoreOptions = {}) {
    this.pool = new (optionalDependency<typeof pg>('pg', 'The PostgreSQL store (--postgres)').Pool)({
      connectionString: url,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'hubbub',
    });
    // An idle client whose server session ends (restart, failover, pg_terminate_backend) emits
    // 'error' on the pool; unhandled, that would crash the process. The pool has already dropped
    // the client, so the next query simply opens a fresh connection.
    this.pool.on('error', () => {});
  }

  async init(): Promise<void> {
    const client = await this.connect();
    const ignore = () => {}; // a session killed mid-way fails the next query instead
    client.on('error', ignore);
    try {
      // Several nodes starting at once would race CREATE TABLE IF NOT EXISTS (it is not atomic
      // against itself); a transaction-scoped advisory lock serialises them.
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtext('hubbub_schema'))");
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (err) {
      // The error that stopped the transaction is what to report; a session that died cannot roll
      // back, and its transaction ended with it.
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.removeListener('error', ignore);
      client.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async createDocument(app: string, name: string, data: unknown, options: CreateDocumentOptions = {}): Promise<SyncDocument> {
    const now = Date.now();
    const text = encodeData(data);
    const { maxDocuments } = options;
    if (maxDocuments === undefined) {
      const rows = await this.query<DocumentRow>(
        `INSERT INTO hubbub_documents (app, name, data, revision, created_at, updated_at)
         VALUES ($1, $2, $3, 1, $4, $4) ON CONFLICT (app, name) DO NOTHING RETURNING ${DOC_COLUMNS}`,
        [app, name, text, now],
      );
      if (!rows[0]) throw documentExists(name);
      return toDocument(rows[0]);
    }
    // Under READ COMMITTED two creates counting at once would both see room for one more. Creates
    // of one app take turns on an advisory lock held to the end of the transaction, and each
    // statement sees what committed before it began: the count includes every earlier create.
    return this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', ['hubbub_documents', app]);
      const { rows } = await client.query<DocumentRow>(
        `INSERT INTO hubbub_documents (app, name, data, revision, created_at, updated_at)
         SELECT $1, $2, $3, 1, $4, $4 WHERE (SELECT count(*) FROM hubbub_documents WHERE app = $1) < $5
         ON CONFLICT (app, name) DO NOTHING RETURNING ${DOC_COLUMNS}`,
        [app, name, text, now, maxDocuments],
      );
      if (rows[0]) return toDocument(rows[0]);
      const exists = await client.query('SELECT 1 FROM hubbub_documents WHERE app = $1 AND name = $2', [app, name]);
      throw exists.rows.length > 0 ? documentExists(name) : documentQuotaReached(maxDocuments);
    });
  }

  async getDocument(app: string, name: string): Promise<SyncDocument | undefined> {
    const rows = await this.query<DocumentRow>(
      `SELECT ${DOC_COLUMNS} FROM hubbub_documents WHERE app = $1 AND name = $2`,
      [app, name],
    );
    return rows[0] && toDocument(rows[0]);
  }

  async updateDocument(app: string, name: string, data: unknown, expectedRevision: number): Promise<SyncDocument> {
    const rows = await this.query<DocumentRow>(
      `UPDATE hubbub_documents SET data = $1, revision = revision + 1, updated_at = $2
       WHERE app = $3 AND name = $4 AND revision = $5 RETURNING ${DOC_COLUMNS}`,
      [encodeData(data), Date.now(), app, name, expectedRevision],
    );
    if (rows[0]) return toDocument(rows[0]);
    throw await this.whyNoMatch(app, name, expectedRevision);
  }

  async deleteDocument(app: string, name: string, expectedRevision?: number): Promise<SyncDocument> {
    const rows = await this.query<DocumentRow>(
      `DELETE FROM hubbub_documents WHERE app = $1 AND name = $2 AND ($3::bigint IS NULL OR revision = $3)
       RETURNING ${DOC_COLUMNS}`,
      [app, name, expectedRevision ?? null],
    );
    if (rows[0]) return asDeleted(toDocument(rows[0]), Date.now());
    throw await this.whyNoMatch(app, name, expectedRevision ?? 0);
  }

  async listDocuments(app: string, options: ListDocumentsOptions = {}): Promise<SyncDocument[]> {
    const rows = await this.query<DocumentRow>(
      `SELECT ${DOC_COLUMNS} FROM hubbub_documents WHERE app = $1 AND name LIKE $2 ESCAPE '\\' AND name > $3
       ORDER BY name LIMIT $4`,
      [app, `${escapeLike(options.prefix ?? '')}%`, options.after ?? '', options.limit ?? null],
    );
    return rows.map(toDocument);
  }

  async enqueueWebhook(item: WebhookItem): Promise<void> {
    await this.enqueueWebhooks([item]);
  }

  async enqueueWebhooks(items: readonly WebhookItem[]): Promise<void> {
    if (items.length === 0) return;
    // One statement (atomic, one round trip) whatever the batch size; ORDINALITY keeps the ids in
    // the batch's order. A retry after a commit the client did not hear about inserts nothing twice.
    await this.query(
      `INSERT INTO hubbub_webhook_outbox (app, endpoint, event_id, payload, next_attempt_at, created_at)
       SELECT app, endpoint, event_id, payload, $5, $5
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS item(app, endpoint, event_id, payload, n)
       ORDER BY n
       ON CONFLICT (app, endpoint, event_id) DO NOTHING`,
      [items.map((i) => i.app), items.map((i) => i.endpoint), items.map((i) => i.eventId), items.map((i) => i.payload), Date.now()],
    );
  }

  async dueWebhooks(now: number, limit: number, filter?: DueWebhooksFilter): Promise<OutboxItem[]> {
    const columns = 'id, app, endpoint, event_id, payload, attempts, next_attempt_at, created_at, last_error';
    const rows = filter
      ? await this.query<OutboxRow>(
          `SELECT ${columns} FROM hubbub_webhook_outbox
           WHERE app = $1 AND endpoint = $2 AND next_attempt_at <= $3 AND id <> ALL($4::bigint[])
           ORDER BY next_attempt_at, id LIMIT $5`,
          [filter.app, filter.endpoint, now, filter.exclude ?? [], Math.max(0, Math.floor(limit))],
        )
      : await this.query<OutboxRow>(
          `SELECT ${columns} FROM hubbub_webhook_outbox WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2`,
          [now, Math.max(0, Math.floor(limit))],
        );
    return rows.map(toOutboxItem);
  }

  async markWebhookDelivered(id: number): Promise<void> {
    await this.settleWebhooks({ delivered: [id], failed: [] });
  }

  async rescheduleWebhook(id: number, nextAttemptAt: number, lastError: string): Promise<void> {
    await this.settleWebhooks({ delivered: [], failed: [{ id, nextAttemptAt, lastError }] });
  }

  async settleWebhooks(settlement: WebhookSettlement): Promise<void> {
    const { delivered, failed } = settlement;
    if (delivered.length === 0 && failed.length === 0) return;
    // One statement, so atomic without BEGIN/COMMIT: the delete runs as a data-modifying CTE.
    await this.query(
      `WITH removed AS (DELETE FROM hubbub_webhook_outbox WHERE id = ANY($1::bigint[]))
       UPDATE hubbub_webhook_outbox AS o
       SET attempts = o.attempts + 1, next_attempt_at = f.next_attempt_at, last_error = f.last_error
       FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS f(id, next_attempt_at, last_error)
       WHERE o.id = f.id`,
      [delivered, failed.map((f) => f.id), failed.map((f) => Math.round(f.nextAttemptAt)), failed.map((f) => f.lastError)],
    );
  }

  async webhookQueueDepth(): Promise<number> {
    const rows = await this.query<{ n: string }>('SELECT count(*) AS n FROM hubbub_webhook_outbox');
    return Number(rows[0]!.n);
  }

  async webhookBacklog(): Promise<WebhookBacklog[]> {
    // octet_length of a TOASTed text is read from its header: the payloads are not fetched.
    const rows = await this.query<BacklogRow>(
      `SELECT app, endpoint, count(*) AS count, coalesce(sum(octet_length(payload)), 0) AS bytes
       FROM hubbub_webhook_outbox GROUP BY app, endpoint`,
    );
    return rows.map(toBacklog);
  }

  async getPosition(key: string): Promise<string | undefined> {
    const rows = await this.query<{ value: string }>('SELECT value FROM hubbub_positions WHERE key = $1', [key]);
    return rows[0]?.value;
  }

  async setPosition(key: string, value: string): Promise<void> {
    await this.query(
      `INSERT INTO hubbub_positions (key, value, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [key, value, Date.now()],
    );
  }

  /**
   * One statement on a pooled connection. A failure to get a connection at all (server down,
   * restarting, refusing connections, out of slots) is 50001. When a session was killed while idle in
   * the pool, pg may hand it out before noticing; that query never ran, so it is tried again (a few
   * times: several idle sessions may have been killed together), and the dead connection is destroyed
   * rather than returned to the pool.
   * (In the rare case the session died after committing, the retry reports the write's own effect,
   * e.g. a conflict, which clients already handle by refetching.)
   */
  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return this.withClient(async (client) => (await client.query<R>(sql, params)).rows);
  }

  /**
   * `work` in one transaction, committed when it returns and rolled back when it throws. A dead
   * session is retried whole, like a single statement: a transaction it cut short never committed.
   */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // The error that stopped the transaction is what to report; a session that died cannot roll
        // back, and its transaction ended with it.
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  /** `work` on a pooled connection, with the dead-session handling `query` describes. */
  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.connect();
      // While checked out, a client has no 'error' listener of the pool's; a session killed right
      // after its query answered (both in one TCP read) would emit an unhandled 'error' and crash.
      let died: Error | undefined;
      const onError = (err: Error) => (died ??= err);
      client.on('error', onError);
      let result: T | undefined;
      let failure: unknown;
      try {
        result = await work(client);
      } catch (err) {
        failure = err;
      }
      client.removeListener('error', onError);
      // A dead connection is destroyed, not handed back to the pool.
      client.release(died ?? (failure !== undefined && isConnectionError(failure) ? (failure as Error) : undefined));
      if (failure === undefined) return result as T;
      // Every idle connection of the pool may have been killed at once: each retry destroys one.
      if (attempt < DEAD_SESSION_RETRIES && !this.closed && isDeadSession(failure)) continue;
      throw isConnectionError(failure) ? unreachable(failure) : failure;
    }
  }

  /** A pooled connection, or 50001: whatever stops us from getting one, the store is unreachable. */
  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw unreachable(err);
    }
  }

  /** The conditional write matched nothing: tell "gone" from "moved on". */
  private async whyNoMatch(app: string, name: string, expectedRevision: number): Promise<Error> {
    const rows = await this.query<{ revision: string }>(
      'SELECT revision FROM hubbub_documents WHERE app = $1 AND name = $2',
      [app, name],
    );
    if (!rows[0]) return documentNotFound(name);
    return new RevisionConflictError(name, expectedRevision, Number(rows[0].revision));
  }
}

/**
 * 50001: the server could not reach its store; over HTTP a 503 (retryable, like /readyz says).
 * The pg error stays as `cause` for the logs.
 */
function unreachable(err: unknown): HubbubError {
  const error = new HubbubError(ErrorCode.Bootstrap, `PostgreSQL unreachable: ${(err as Error).message}`, 503);
  error.cause = err;
  return error;
}
