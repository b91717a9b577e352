/**
 * The durable-data seam. Everything that must outlive a restart (sync documents, webhook outbox,
 * change-feed positions) goes through a `Store`, so SQLite (single node, zero setup) and
 * PostgreSQL (shared by many nodes) are interchangeable and pass one contract test suite.
 */
import { ErrorCode, HubbubError } from '@hubbub/protocol';

export interface SyncDocument {
  name: string;
  data: unknown;
  /** 1 on create, +1 on every write; the optimistic-concurrency token clients send back. */
  revision: number;
  /** Unix ms. */
  createdAt: number;
  /** Unix ms. */
  updatedAt: number;
}

export interface ListDocumentsOptions {
  /** Names starting with this exact string; `%` and `_` are ordinary characters. */
  prefix?: string;
  /** Names after this one in name order (it need not exist): where the previous page ended. */
  after?: string;
  /** At most this many (absent: all). */
  limit?: number;
}

export interface CreateDocumentOptions {
  /**
   * Most documents the app may hold: a create past it is 42900 and writes nothing. Checked and
   * written in one step under a lock per app, so concurrent creates (from any node) cannot pass it.
   */
  maxDocuments?: number;
}

export interface WebhookItem {
  app: string;
  endpoint: string;
  /** Stable id of the event; enqueueing the same (app, endpoint, eventId) while pending is a no-op. */
  eventId: string;
  payload: string;
}

/** Which due items `dueWebhooks` returns: those of one endpoint of one app (an index serves it). */
export interface DueWebhooksFilter {
  app: string;
  endpoint: string;
  /** Items to leave out, e.g. those whose attempt is under way. */
  exclude?: readonly number[];
}

/** What became of a round of attempts, written in one transaction. */
export interface WebhookSettlement {
  /** Delivered (or no longer wanted): removed. Unknown ids are ignored. */
  delivered: readonly number[];
  /** Failed: attempts + 1, next try at nextAttemptAt (whole ms). Unknown ids are ignored. */
  failed: ReadonlyArray<{ id: number; nextAttemptAt: number; lastError: string }>;
}

/** Pending items of one endpoint of one app, and the UTF-8 bytes of their payloads. */
export interface WebhookBacklog {
  app: string;
  endpoint: string;
  count: number;
  bytes: number;
}

export interface OutboxItem extends WebhookItem {
  id: number;
  /** Failed delivery attempts so far. */
  attempts: number;
  /** Unix ms; the item is due when this is <= now. */
  nextAttemptAt: number;
  createdAt: number;
  lastError?: string;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  init(): Promise<void>;
  close(): Promise<void>;
  /** Throws when the backing database is unreachable. */
  ping(): Promise<void>;

  /** Revision 1. Exists → HubbubError 40900; the app already holds `maxDocuments` → 42900. */
  createDocument(app: string, name: string, data: unknown, options?: CreateDocumentOptions): Promise<SyncDocument>;
  getDocument(app: string, name: string): Promise<SyncDocument | undefined>;
  /** Stale → RevisionConflictError (40900); missing → HubbubError 40400. */
  updateDocument(app: string, name: string, data: unknown, expectedRevision: number): Promise<SyncDocument>;
  /** Returns the deleted document with revision + 1. Stale → RevisionConflictError; missing → 40400. */
  deleteDocument(app: string, name: string, expectedRevision?: number): Promise<SyncDocument>;
  /** Sorted by name (binary / code-point order on both backends), a page when `limit` is given. */
  listDocuments(app: string, options?: ListDocumentsOptions): Promise<SyncDocument[]>;

  /** Durable, at-least-once: an item stays until markWebhookDelivered. Due immediately. */
  enqueueWebhook(item: WebhookItem): Promise<void>;
  /** Like enqueueWebhook for each item, in order, in one transaction: all are stored or none. */
  enqueueWebhooks(items: readonly WebhookItem[]): Promise<void>;
  /**
   * Items with nextAttemptAt <= now, oldest due first (then by id); with a filter, only those of one
   * endpoint, minus the excluded ids. Does not lease them.
   */
  dueWebhooks(now: number, limit: number, filter?: DueWebhooksFilter): Promise<OutboxItem[]>;
  /** Removes the item; unknown ids are ignored so a repeated ack is harmless. */
  markWebhookDelivered(id: number): Promise<void>;
  /** attempts + 1, next try at nextAttemptAt. Unknown ids are ignored. */
  rescheduleWebhook(id: number, nextAttemptAt: number, lastError: string): Promise<void>;
  /** markWebhookDelivered and rescheduleWebhook for many items, in one transaction. */
  settleWebhooks(settlement: WebhookSettlement): Promise<void>;
  /** Pending items, due or not. */
  webhookQueueDepth(): Promise<number>;
  /** Pending items (due or not) per endpoint of each app, with their payload bytes. */
  webhookBacklog(): Promise<WebhookBacklog[]>;

  getPosition(key: string): Promise<string | undefined>;
  setPosition(key: string, value: string): Promise<void>;
}

/** A stale expectedRevision. Carries the revision the caller should refetch/rebase onto. */
export class RevisionConflictError extends HubbubError {
  readonly currentRevision: number;

  constructor(name: string, expectedRevision: number, currentRevision: number) {
    super(
      ErrorCode.Conflict,
      `document "${name}" is at revision ${currentRevision}, not ${expectedRevision}`,
    );
    this.name = 'RevisionConflictError';
    this.currentRevision = currentRevision;
  }

  override toJSON(): { code: number; statusCode: number; message: string; currentRevision: number } {
    return { ...super.toJSON(), currentRevision: this.currentRevision };
  }
}

export function documentExists(name: string): HubbubError {
  return new HubbubError(ErrorCode.Conflict, `document "${name}" already exists`);
}

/**
 * The app holds as many documents as it may. 42900, not 40900: 40900 says "this document exists" or
 * "your revision is stale", and a client acting on that (create → update, refetch) would loop.
 */
export function documentQuotaReached(maxDocuments: number): HubbubError {
  return new HubbubError(ErrorCode.RateLimited, `this app holds ${maxDocuments} documents, the most it may (--max-documents-per-app): delete some first`);
}

export function documentNotFound(name: string): HubbubError {
  return new HubbubError(ErrorCode.NotFound, `document "${name}" not found`);
}

/**
 * Documents are stored as JSON text on both backends (not JSONB) so a value reads back exactly as
 * written, key order included, whichever backend holds it.
 */
export function encodeData(data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (err) {
    throw new HubbubError(ErrorCode.BadFrame, `document data is not JSON: ${(err as Error).message}`);
  }
  if (text === undefined) throw new HubbubError(ErrorCode.BadFrame, 'document data is not JSON');
  return text;
}

/** The row shape both backends select, so the mapping to SyncDocument lives once. */
export interface DocumentRow {
  name: string;
  data: string;
  revision: number | string;
  created_at: number | string;
  updated_at: number | string;
}

/** pg returns BIGINT as strings (they may exceed 2^53); ours are ms timestamps and counters, well within. */
export function toDocument(row: DocumentRow): SyncDocument {
  return {
    name: row.name,
    data: JSON.parse(row.data) as unknown,
    revision: Number(row.revision),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** A delete reports the document as it was, one revision on, so watchers see a final revision. */
export function asDeleted(doc: SyncDocument, now: number): SyncDocument {
  return { ...doc, revision: doc.revision + 1, updatedAt: now };
}

export interface OutboxRow {
  id: number | string;
  app: string;
  endpoint: string;
  event_id: string;
  payload: string;
  attempts: number | string;
  next_attempt_at: number | string;
  created_at: number | string;
  last_error: string | null;
}

export interface BacklogRow {
  app: string;
  endpoint: string;
  count: number | string;
  bytes: number | string;
}

export function toBacklog(row: BacklogRow): WebhookBacklog {
  return { app: row.app, endpoint: row.endpoint, count: Number(row.count), bytes: Number(row.bytes) };
}

export function toOutboxItem(row: OutboxRow): OutboxItem {
  const item: OutboxItem = {
    id: Number(row.id),
    app: row.app,
    endpoint: row.endpoint,
    eventId: row.event_id,
    payload: row.payload,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    createdAt: Number(row.created_at),
  };
  if (row.last_error !== null) item.lastError = row.last_error;
  return item;
}

/** Escapes LIKE wildcards so a prefix containing `%` or `_` matches literally (ESCAPE '\'). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
