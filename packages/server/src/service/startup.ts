/**
 * The steps of `HubbubServer.start`, each failing as a 50001 that names the service, where it is and
 * the fix; and the undoing of a start that failed part-way.
 */
import { statSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { ErrorCode, HubbubError } from '@hubbub/protocol';
import type { Engine, EngineEvents } from '../core/engine.js';
import type { Log } from '../core/log.js';
import { MissingDependency } from '../core/optional-dependency.js';
import { ChangeFeed } from './change-feed.js';
import { redactUrl } from '../core/redact-url.js';
import type { ServerOptions } from './server-options.js';
import { DEV_KEY_FILE, ensurePrivateDir, resolveSigningKey, tightenPrivateFile } from './signing-key.js';
import { openStore, SqliteStore } from './store/index.js';
import type { Store } from './store/store.js';

/** The data dir, made owner-only, and the signing key: from the options, else the dev key kept there. */
export function prepareDataDir(options: ServerOptions): Promise<ReturnType<typeof resolveSigningKey>> {
  const dataDir = options.dataDir;
  return startStep(
    () => {
      ensurePrivateDir(dataDir);
      return resolveSigningKey(options.signingKey, dataDir);
    },
    (err) => `cannot use the data dir ${dataDir} (${err.message}): fix its permissions or pass --data-dir / HUBBUB_DATA_DIR`,
  );
}

export function openServerStore(options: ServerOptions): Promise<Store> {
  const { postgres, dataDir } = options;
  return startStep(
    () => openStore({ postgres, dataDir }),
    // openStore's 50001 names the store but not where it is or the fix: its cause says what went wrong.
    (err) => {
      const reason = err.cause instanceof Error ? err.cause.message : err.message;
      return postgres
        ? `cannot open the PostgreSQL store at ${redactUrl(postgres)} (${reason}): start PostgreSQL or fix --postgres / DATABASE_URL`
        : `cannot open the SQLite store in ${dataDir} (${reason}): fix its permissions or pass --data-dir / HUBBUB_DATA_DIR`;
    },
  );
}

export function startEngine(engine: Engine, events: EngineEvents): Promise<void> {
  return startStep(
    () => engine.start(events),
    (err) => (engine.kind === 'redis' ? `${err.message}: start Redis or fix --redis / REDIS_URL` : `cannot start the ${engine.kind} engine (${err.message})`),
  );
}

export function listen(http: Server, port: number, host: string): Promise<void> {
  return startStep(
    () =>
      new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve();
        });
      }),
    (err) => listenProblem(err, port, host),
  );
}

/**
 * `--watch-table`: the feed is handed to `owner` before it starts, so closing the owner after a
 * failed start stops it too.
 */
export function startChangeFeed(owner: { changeFeed?: ChangeFeed }, options: ServerOptions, engine: Engine, store: Store, log: Log): Promise<void> {
  const url = options.postgres!;
  return startStep(
    () => {
      owner.changeFeed = new ChangeFeed(
        { url, app: options.watchApp ?? 'default', tables: options.watchTables!, log, onError: (err) => log.warn({ err: err.message }, 'change feed') },
        engine,
        store,
      );
      return owner.changeFeed.start();
    },
    (err) => `cannot watch tables on PostgreSQL at ${redactUrl(url)} (${err.message}): create the tables or fix --watch-table / HUBBUB_WATCH_TABLE`,
  );
}

interface Closable {
  close(): Promise<void>;
}

/**
 * Close what a failed start opened: the server when it was made (it closes its engine and store),
 * else the engine and the store it would have owned. The start-up error is what the caller reports,
 * so a close that fails too is only logged at debug.
 */
export async function closeAfterFailedStart(log: Log, opened: { server?: Closable; engine: Closable; ownStore?: Closable }): Promise<void> {
  const close = (what: string, part: Closable) =>
    part.close().catch((err: unknown) => log.debug({ err, part: what }, `closing the ${what} after a failed start failed too: the start-up error is reported instead`));
  if (opened.server) return close('server', opened.server);
  await close('engine', opened.engine);
  if (opened.ownStore) await close('store', opened.ownStore);
}

/** Run one start-up step; a failure becomes a 50001 whose message `explain` writes: the service, where, the fix. */
async function startStep<T>(run: () => T | Promise<T>, explain: (err: Error & { code?: string }) => string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof MissingDependency) throw err;
    const error = new HubbubError(ErrorCode.Bootstrap, explain(err as Error));
    error.cause = err;
    throw error;
  }
}

function listenProblem(err: Error & { code?: string }, port: number, host: string): string {
  if (err.code === 'EADDRINUSE') return `port ${port} is in use: stop the other process or pass --port / PORT`;
  if (err.code === 'EACCES') return `port ${port} needs privileges this process lacks: pick a port above 1023 with --port / PORT`;
  return `cannot listen on ${host}:${port} (${err.message}): fix --host / HOST or --port / PORT`;
}

/**
 * The data dir's secrets stay owner-only: files made by older versions (or copied in) that others
 * could read are narrowed to 0600, and said so; a loose data dir itself is only warned about.
 */
export function keepPrivate(log: Log, dataDir: string, store: Store): void {
  const files = [join(dataDir, 'keys.json'), join(dataDir, DEV_KEY_FILE)];
  if (store instanceof SqliteStore) files.push(store.path, `${store.path}-wal`, `${store.path}-shm`);
  for (const file of files) {
    const was = tightenPrivateFile(file);
    if (was !== undefined) log.warn({ file, was: `0${was.toString(8)}` }, `${file} was readable by other users: narrowed to 0600`);
  }
  const dirMode = statSync(dataDir).mode & 0o777;
  if (dirMode & 0o077) log.warn({ dataDir, mode: `0${dirMode.toString(8)}` }, `the data dir ${dataDir} is open to other users: chmod 700 it`);
}
