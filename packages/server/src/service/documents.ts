import { ErrorCode, HubbubError, assertAllowed, isValidChannelName, type RealtimeEvent } from '@hubbub/protocol';
import type { Identity } from '../core/identity.js';
import { newEventId, publishEvent } from '../core/events.js';
import type { Engine } from '../engine/engine.js';
import type { Store, SyncDocument } from './store/store.js';

export type DocumentChange = 'sync.created' | 'sync.updated' | 'sync.deleted';

/**
 * Synced documents: durable in the Store, every write one revision further, every change an event
 * on topic `sync.<name>` (`payload` is the document's data, `metadata.revision` its revision).
 * Capabilities apply to the topic name: reads need `subscribe`, writes `publish`.
 */
export class Documents {
  /** Called after each change, e.g. to queue webhooks. */
  onChange?: (app: string, event: RealtimeEvent) => void;

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
  ) {}

  async create(who: Identity, name: unknown, data: unknown): Promise<SyncDocument> {
    const doc = await this.store.createDocument(who.app, this.check(who, name, 'publish'), data);
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
    const doc = await this.store.updateDocument(who.app, this.check(who, name, 'publish'), data, revision as number);
    await this.emit(who, 'sync.updated', doc);
    return doc;
  }

  async delete(who: Identity, name: unknown, revision?: number): Promise<SyncDocument> {
    if (revision !== undefined && !Number.isSafeInteger(revision)) throw new HubbubError(ErrorCode.BadFrame, '"revision" must be an integer');
    const doc = await this.store.deleteDocument(who.app, this.check(who, name, 'publish'), revision);
    await this.emit(who, 'sync.deleted', doc);
    return doc;
  }

  async list(who: Identity, prefix?: string): Promise<SyncDocument[]> {
    const docs = await this.store.listDocuments(who.app, prefix ? { prefix } : {});
    return docs.filter((d) => allowedToRead(who, d.name));
  }

  private check(who: Identity, name: unknown, op: 'publish' | 'subscribe'): string {
    if (typeof name !== 'string' || name.length > 250 || !isValidChannelName(name)) {
      throw new HubbubError(ErrorCode.BadFrame, 'document names use 1-250 of [A-Za-z0-9._:-], not starting or ending with "."');
    }
    assertAllowed(who.capability, `sync.${name}`, op);
    return name;
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
    this.onChange?.(who.app, event);
  }
}

function allowedToRead(who: Identity, name: string): boolean {
  try {
    assertAllowed(who.capability, `sync.${name}`, 'subscribe');
    return true;
  } catch {
    return false;
  }
}
