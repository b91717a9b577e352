import type pg from 'pg';
import { ErrorCode, HubbubError, isValidChannelName, type RealtimeEvent } from '@hubbub/protocol';
import { publishEvent } from '../core/events.js';
import type { Engine } from '../core/engine.js';
import { processLog, type Log } from '../core/log.js';
import { optionalDependency } from '../core/optional-dependency.js';
import type { Store } from './store/store.js';

export interface WatchedTable {
  /** `table` or `schema.table`. */
  table: string;
  topic: string;
}

export interface ChangeFeedOptions {
  url: string;
  app: string;
  tables: WatchedTable[];
  /** Fallback poll interval when no notification arrives. */
  pollMs?: number;
  onEvent?: (app: string, event: RealtimeEvent) => void;
  onError?: (err: Error) => void;
  /** Where what needs no warning goes (a connection that failed to close): at debug. */
  log?: Log;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const POSITION_KEY = 'changefeed:hubbub_changes';

/**
 * Table changes → events. A trigger on each watched table writes every insert, update and delete
 * into `hubbub_changes` in the same transaction (so a change is captured even while Hubbub is down)
 * and notifies; the feed reads rows past its durable position, publishes them, then moves the
 * position. Rows are read only once every transaction that could still add an earlier id has ended,
 * so a slow transaction is never skipped.
 */
export class ChangeFeed {
  private readonly pool: pg.Pool;
  private listener?: pg.Client;
  private relisten?: NodeJS.Timeout;
  private listenFailures = 0;
  private timer?: NodeJS.Timeout;
  private running = false;
  private draining?: Promise<void>;
  private again = false;
  private readonly topicOf = new Map<string, string>();
  private readonly log: Log;

  constructor(
    private readonly options: ChangeFeedOptions,
    private readonly engine: Engine,
    private readonly store: Store,
  ) {
    for (const { table, topic } of options.tables) {
      if (!table.split('.').every((part) => IDENT.test(part)) || table.split('.').length > 2) {
        throw new HubbubError(ErrorCode.BadFrame, `--watch-table: ${JSON.stringify(table)} is not a table name`);
      }
      if (!isValidChannelName(topic)) throw new HubbubError(ErrorCode.BadFrame, `--watch-table: ${JSON.stringify(topic)} is not a topic name`);
      this.topicOf.set(table.split('.').at(-1)!, topic);
    }
    this.log = options.log ?? processLog;
    this.pool = new (pgDriver().Pool)({ connectionString: options.url, max: 2, connectionTimeoutMillis: 5_000, keepAlive: true });
    // An idle pooled connection whose session ended (pg_terminate_backend, a restart): the pool has
    // dropped it already and the next drain opens a new one.
    this.pool.on('error', (err) => options.onError?.(err));
  }

  async start(): Promise<void> {
    await this.install();
    this.running = true;
    await this.listen();
    this.timer = setInterval(() => this.kick(), this.options.pollMs ?? 1000);
    this.timer.unref();
    await this.kick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    clearTimeout(this.relisten);
    await this.draining?.catch(() => {}); // a drain's errors went to onError already: only its end is awaited here
    await this.listener?.end().catch(this.closeFailed('the LISTEN connection'));
    await this.pool.end().catch(this.closeFailed('the pool'));
  }

  /** Run a drain now, or once more after the one under way. */
  kick(): Promise<void> {
    if (!this.running) return Promise.resolve();
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = this.drain()
      .catch((err) => this.options.onError?.(err))
      .finally(() => {
        this.draining = undefined;
        if (this.again) {
          this.again = false;
          void this.kick();
        }
      });
    return this.draining;
  }

  private async install(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', ['hubbub_changes']);
      await client.query(`
        CREATE TABLE IF NOT EXISTS hubbub_changes (
          id bigserial PRIMARY KEY,
          tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
          table_name text NOT NULL,
          op text NOT NULL,
          new_row jsonb,
          old_row jsonb,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await client.query(`
        CREATE OR REPLACE FUNCTION hubbub_capture() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO hubbub_changes (table_name, op, new_row, old_row) VALUES (
            TG_TABLE_NAME, lower(TG_OP),
            CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END,
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END);
          PERFORM pg_notify('hubbub_changes', '');
          RETURN NULL;
        END $$`);
      for (const { table } of this.options.tables) {
        const quoted = table.split('.').map((p) => `"${p}"`).join('.');
        await client.query(`DROP TRIGGER IF EXISTS hubbub_capture ON ${quoted}`);
        await client.query(`CREATE TRIGGER hubbub_capture AFTER INSERT OR UPDATE OR DELETE ON ${quoted} FOR EACH ROW EXECUTE FUNCTION hubbub_capture()`);
      }
    } finally {
      await client
        .query('SELECT pg_advisory_unlock(hashtext($1))', ['hubbub_changes'])
        .catch((err: Error) => this.log.debug({ err: err.message }, 'change feed: releasing the install lock failed; it is held until its connection closes'));
      client.release();
    }
  }

  /**
   * A dedicated connection for LISTEN. If it dies (or cannot be opened), polling carries on and it is
   * opened again, retrying with backoff for as long as the feed runs; once back, a drain picks up
   * whatever was notified meanwhile.
   */
  private async listen(): Promise<void> {
    if (!this.running) return;
    const client = new (pgDriver().Client)({ connectionString: this.options.url, connectionTimeoutMillis: 5_000, keepAlive: true });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (err) this.options.onError?.(err);
      if (this.listener === client) this.listener = undefined;
      client.end().catch(this.closeFailed('a lost LISTEN connection'));
      this.scheduleListen();
    };
    client.on('notification', () => void this.kick());
    client.on('error', (err) => onLost(err));
    client.on('end', () => onLost());
    try {
      await client.connect();
      await client.query('LISTEN hubbub_changes');
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (lost) return;
    if (!this.running) {
      lost = true;
      await client.end().catch(this.closeFailed('a LISTEN connection opened while stopping'));
      return;
    }
    this.listener = client;
    this.listenFailures = 0;
    void this.kick();
  }

  private scheduleListen(): void {
    if (!this.running || this.relisten) return;
    const delay = Math.min(10_000, 250 * 2 ** this.listenFailures++);
    this.relisten = setTimeout(() => {
      this.relisten = undefined;
      void this.listen();
    }, delay);
    this.relisten.unref();
  }

  /** For closing a connection the feed is done with: if that fails, the connection is most likely gone already. */
  private closeFailed(what: string): (err: Error) => void {
    return (err) => this.log.debug({ err: err.message }, `change feed: closing ${what} failed; it is not used again`);
  }

  private async drain(): Promise<void> {
    for (;;) {
      const position = Number((await this.store.getPosition(POSITION_KEY)) ?? 0);
      const { rows } = await this.pool.query(
        `SELECT id, table_name, op, new_row, old_row, extract(epoch from created_at) * 1000 AS at
           FROM hubbub_changes
          WHERE id > $1 AND tx < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY id LIMIT 500`,
        [position],
      );
      if (rows.length === 0) return;
      for (const row of rows) {
        const topic = this.topicOf.get(row.table_name);
        if (topic) await this.publish(topic, row);
      }
      await this.store.setPosition(POSITION_KEY, String(rows.at(-1).id));
    }
  }

  private async publish(topic: string, row: { id: string; table_name: string; op: string; new_row: unknown; old_row: unknown; at: number }): Promise<void> {
    const operation = row.op as 'insert' | 'update' | 'delete';
    const event: RealtimeEvent = {
      // The outbox id makes the event id: a publish repeated after a crash is collapsed by dedup.
      id: `db_${row.id}`,
      topic,
      source: 'database',
      type: `database.${operation}`,
      payload: operation === 'delete' ? row.old_row : row.new_row,
      metadata: { timestamp: Math.round(Number(row.at)), table: row.table_name, operation },
    };
    await publishEvent(this.engine, this.options.app, event);
    this.options.onEvent?.(this.options.app, event);
  }
}

/** `sessions=session.status` → { table: 'sessions', topic: 'session.status' }. */
export function parseWatchTable(spec: string): WatchedTable {
  const m = /^([^=]+)=(.+)$/.exec(spec);
  if (!m) throw new HubbubError(ErrorCode.BadFrame, `--watch-table: expected TABLE=TOPIC, got ${JSON.stringify(spec)}`);
  return { table: m[1].trim(), topic: m[2].trim() };
}

function pgDriver(): typeof pg {
  return optionalDependency<typeof pg>('pg', 'The database change feed (--watch-table)');
}
