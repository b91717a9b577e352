/**
 * Picks the durable store from the CLI's flags: PostgreSQL when a URL is given (shared by every node),
 * otherwise a SQLite file in the data directory (one node, nothing to install).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export * from './store.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
export { SqliteStore } from './sqlite.js';

export interface OpenStoreOptions {
  /** postgres:// connection URL; when set, SQLite is not used. */
  postgres?: string;
  /** Directory for the SQLite file `hubbub.db`; created if missing. */
  dataDir: string;
}

/** An initialised store, or a 50001 error naming the backend, so `hubbub serve` fails fast and clearly. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  let store: Store;
  if (options.postgres) {
    store = new PostgresStore(options.postgres);
  } else {
    await mkdir(options.dataDir, { recursive: true });
    store = new SqliteStore(join(options.dataDir, 'hubbub.db'));
  }
  try {
    await store.init();
  } catch (err) {
    // The init error is what to report: closing a store that never opened may fail too, and adds nothing.
    await store.close().catch(() => {});
    if (err instanceof HubbubError) throw err;
    const where = options.postgres ? 'PostgreSQL' : `SQLite (${join(options.dataDir, 'hubbub.db')})`;
    const error = new HubbubError(ErrorCode.Bootstrap, `cannot open the ${where} store: ${(err as Error).message}`);
    error.cause = err;
    throw error;
  }
  return store;
}
