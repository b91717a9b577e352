import { randomBytes } from 'node:crypto';
import { SealedCursor } from './sealed-cursor.js';
import { ErrorCode, HubbubError, assertAllowed, isValidChannelName, type RealtimeEvent } from '@hubbub/protocol';
import type { Identity } from '../core/identity.js';
import { newEventId, publishEvent } from '../core/events.js';
import type { Engine } from '../core/engine.js';
import { encodeData, type Store, type SyncDocument } from './store/store.js';

export type DocumentChange = 'sync.created' | 'sync.updated' | 'sync.deleted';

export interface DocumentLimits {
  /** Most documents one app holds (`--max-documents-per-app`); a create past it is 42900. */
  maxPerApp: number;
  /** Largest document, in bytes of its JSON (`--max-document-size`); past it a write is 41300. */
  maxBytes: number;
}

export const DEFAULT_DOCUMENT_LIMITS: DocumentLimits = { maxPerApp: 10_000, maxBytes: 64 * 1024 };

/** Documents in one `GET /sync/documents` page unless `limit` says otherwise, and the most it may say. */
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

/** One page of a listing; `next` (an opaque cursor for `?cursor=`) is there when more may follow. */
export interface DocumentPage {
  documents: SyncDocument[];
  next?: string;
}

/**
 * Synced documents: durable in the Store, every write one revision further, every change an event
 * on topic `sync.<name>` (`payload` is the document's data, `metadata.revision` its revision).
 * Capabilities apply to the topic name: reads need `subscribe`, writes `publish`.
 */
export class Documents {
  /** Called after each change, e.g. to queue webhooks; the change is acknowledged once it settles. */
  onChange?: (app: string, event: RealtimeEvent) => Promise<void> | void;
  private readonly limits: DocumentLimits;

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    limits: Partial<DocumentLimits> = {},
    /** Seals listing cursors; without it (tests, embedders) cursors work within this process only. */
    private readonly cursors: SealedCursor = new SealedCursor(randomBytes(32)),
  ) {
    this.limits = { ...DEFAULT_DOCUMENT_LIMITS, ...limits };
  }

  async create(who: Identity, name: unknown, data: unknown): Promise<SyncDocument> {
    const checked = this.check(who, name, 'publish');
    this.checkSize(checked, data);
    const doc = await this.store.createDocument(who.app, checked, data, { maxDocuments: this.limits.maxPerApp });
    await this.emit(who, 'sync.created', doc);
    return doc;
  }

  async get(who: Identity, name: unknown): Promise<SyncDocument> {
    const checked = this.check(who, name, 'subscribe');
    const doc = await this.store.getDocument(who.app, checked);
    if (!doc) throw new HubbubError(ErrorCode.NotFound, `document "${checked}" not found`);
    return doc;
  }

  async update(who: Identity, name: unknown, data: unknown, revision: unknown): Promise<SyncDocument> {
    if (!Number.isSafeInteger(revision)) throw new HubbubError(ErrorCode.BadFrame, 'update needs the "revision" you last read');
    const checked = this.check(who, name, 'publish');
    this.checkSize(checked, data);
    const doc = await this.store.updateDocument(who.app, checked, data, revision as number);
    await this.emit(who, 'sync.updated', doc);
    return doc;
  }

  async delete(who: Identity, name: unknown, revision?: number): Promise<SyncDocument> {
    if (revision !== undefined && !Number.isSafeInteger(revision)) throw new HubbubError(ErrorCode.BadFrame, '"revision" must be an integer');
    const doc = await this.store.deleteDocument(who.app, this.check(who, name, 'publish'), revision);
    await this.emit(who, 'sync.deleted', doc);
    return doc;
  }

  /**
   * `GET /sync/documents?prefix&limit&cursor`: one page in name order. The store reads `limit`
   * documents past the cursor and those the capability hides are left out, so a page can be short
   * (even empty) while `next` says more may follow: each request costs at most `limit` rows.
   */
  async list(who: Identity, query: URLSearchParams): Promise<DocumentPage> {
    const limit = listLimit(query.get('limit'));
    const cursor = query.get('cursor');
    const prefix = query.get('prefix') ?? '';
    const after = cursor === null ? undefined : nameOfCursor(this.cursors.open(who.app, cursor));
    const scanned = await this.store.listDocuments(who.app, { prefix, after, limit: limit + 1 });
    const more = scanned.length > limit;
    const kept = more ? scanned.slice(0, limit) : scanned;
    const page: DocumentPage = { documents: kept.filter((d) => allowedToRead(who, d.name)) };
    if (more) page.next = this.cursors.seal(who.app, kept[kept.length - 1].name);
    return page;
  }

  private check(who: Identity, name: unknown, op: 'publish' | 'subscribe'): string {
    if (!isDocumentName(name)) {
      throw new HubbubError(ErrorCode.BadFrame, 'document names use 1-250 of [A-Za-z0-9._:-], not starting or ending with "."');
    }
    assertAllowed(who.capability, `sync.${name}`, op);
    return name;
  }

  /** The body limit (`--max-payload`) bounds a request; this bounds what is kept, whatever that is. */
  private checkSize(name: string, data: unknown): void {
    const bytes = Buffer.byteLength(encodeData(data));
    if (bytes > this.limits.maxBytes) {
      throw new HubbubError(ErrorCode.TooLarge, `document "${name}" is ${bytes} bytes of JSON, over the ${this.limits.maxBytes} bytes a document may hold (--max-document-size)`);
    }
  }

  private async emit(who: Identity, type: DocumentChange, doc: SyncDocument): Promise<void> {
    const event: RealtimeEvent = {
      id: newEventId(),
      topic: `sync.${doc.name}`,
      source: 'sync',
      type,
      payload: doc.data,
      metadata: { timestamp: doc.updatedAt, revision: doc.revision, clientId: who.clientId },
    };
    // The write is durable already; a failed live fan-out must not turn it into an error.
    await publishEvent(this.engine, who.app, event).catch(() => {});
    await this.onChange?.(who.app, event);
  }
}

function isDocumentName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= 250 && isValidChannelName(name);
}

function listLimit(raw: string | null): number {
  if (raw === null) return DEFAULT_LIST_LIMIT;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_LIST_LIMIT) {
    throw new HubbubError(ErrorCode.BadFrame, `"limit" is a whole number of 1-${MAX_LIST_LIMIT}`);
  }
  return n;
}

/** A sealed cursor holds the last name a page scanned (which the client may not be allowed to see). */
function nameOfCursor(name: string): string {
  if (!isDocumentName(name)) throw new HubbubError(ErrorCode.BadFrame, '"cursor" is not one this server gave: pass the "next" of the previous page');
  return name;
}

function allowedToRead(who: Identity, name: string): boolean {
  try {
    assertAllowed(who.capability, `sync.${name}`, 'subscribe');
    return true;
  } catch {
    return false;
  }
}
