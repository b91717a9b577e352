/**
 * Documents over REST within bounds: `GET /sync/documents` pages (limit default 100, at most 1000,
 * an opaque cursor in `next`), a document is at most `maxBytes` of JSON (41300), and an app holds at
 * most `maxPerApp` documents (42900).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, HubbubError, parseCapability } from '@hubbub/protocol';
import type { Identity } from '../src/core/identity.js';
import { MemoryEngine } from '../src/engine/memory.js';
import { Documents, type DocumentLimits } from '../src/service/documents.js';
import { SqliteStore } from '../src/service/store/index.js';

let dir = '';
let store: SqliteStore;
let engine: MemoryEngine;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hubbub-docs-'));
  store = new SqliteStore(join(dir, 'hubbub.db'));
  await store.init();
  engine = new MemoryEngine();
  await engine.start({ message: () => {}, presence: () => {} });
});
afterEach(async () => {
  await engine.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const ann: Identity = { app: 'app1', clientId: 'ann' };
const documents = (limits: Partial<DocumentLimits> = {}) => new Documents(store, engine, limits);
const q = (params: Record<string, string> = {}) => new URLSearchParams(params);

async function refusal(promise: Promise<unknown>): Promise<HubbubError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err, 'expected a refusal').toBeInstanceOf(HubbubError);
  return err as HubbubError;
}

describe('listing documents a page at a time', () => {
  it('gives 100 by default, with `next` while there is more, and no `next` on the last page', async () => {
    const docs = documents();
    const names = Array.from({ length: 250 }, (_, i) => `doc.${String(i).padStart(3, '0')}`);
    for (const name of names) await docs.create(ann, name, { name });
    const seen: string[] = [];
    let page = await docs.list(ann, q());
    expect(page.documents).toHaveLength(100);
    for (let pages = 1; ; pages++) {
      seen.push(...page.documents.map((d) => d.name));
      if (page.next === undefined) {
        expect(pages).toBe(3);
        break;
      }
      expect(typeof page.next).toBe('string');
      page = await docs.list(ann, q({ cursor: page.next }));
    }
    expect(seen).toEqual(names);
    expect(Object.keys(await docs.list(ann, q({ limit: '250' })))).toEqual(['documents']);
  });

  it('takes a limit of 1-1000 and a prefix, and the cursor keeps to the prefix', async () => {
    const docs = documents();
    for (const name of ['a.1', 'a.2', 'a.3', 'b.1']) await docs.create(ann, name, {});
    const first = await docs.list(ann, q({ prefix: 'a.', limit: '2' }));
    expect(first.documents.map((d) => d.name)).toEqual(['a.1', 'a.2']);
    const second = await docs.list(ann, q({ prefix: 'a.', limit: '2', cursor: first.next! }));
    expect(second).toEqual({ documents: [expect.objectContaining({ name: 'a.3' })] });
    for (const limit of ['0', '1001', '-1', 'ten', '1.5', '']) {
      expect((await refusal(docs.list(ann, q({ limit })))).code, `limit ${JSON.stringify(limit)}`).toBe(ErrorCode.BadFrame);
    }
    expect((await docs.list(ann, q({ limit: '1000' }))).documents).toHaveLength(4);
  });

  it('refuses a cursor it did not give', async () => {
    const docs = documents();
    await docs.create(ann, 'a', {});
    for (const cursor of ['', 'not a cursor!', 'x'.repeat(2000), Buffer.from('bad/name').toString('base64url')]) {
      expect((await refusal(docs.list(ann, q({ cursor })))).code, `cursor ${cursor.slice(0, 20)}`).toBe(ErrorCode.BadFrame);
    }
  });

  it('a page may be short when the capability hides documents; `next` still leads on', async () => {
    const docs = documents();
    for (let i = 0; i < 6; i++) await docs.create(ann, `hidden.${i}`, {});
    await docs.create(ann, 'shown.1', {});
    const reader: Identity = { app: 'app1', clientId: 'reader', capability: parseCapability({ 'sync.shown.*': ['subscribe'] }) };
    const first = await docs.list(reader, q({ limit: '3' }));
    expect(first.documents).toEqual([]);
    expect(first.next).toBeDefined();
    const found: string[] = [];
    for (let page = first; ; ) {
      found.push(...page.documents.map((d) => d.name));
      if (!page.next) break;
      page = await docs.list(reader, q({ limit: '3', cursor: page.next }));
    }
    expect(found).toEqual(['shown.1']);
  });
});

describe('document size', () => {
  it('is at most maxBytes of JSON: past it, create and update are 41300 and nothing is written', async () => {
    const docs = documents({ maxBytes: 100 });
    const fits = { text: 'x'.repeat(100 - '{"text":""}'.length) };
    const created = await docs.create(ann, 'fits', fits);
    expect(created.revision).toBe(1);
    const tooBig = { text: 'x'.repeat(100) };
    const onCreate = await refusal(docs.create(ann, 'big', tooBig));
    expect(onCreate.code).toBe(ErrorCode.TooLarge);
    expect(onCreate.message).toMatch(/100 bytes/);
    expect(await store.getDocument('app1', 'big')).toBeUndefined();
    expect((await refusal(docs.update(ann, 'fits', tooBig, 1))).code).toBe(ErrorCode.TooLarge);
    expect(await store.getDocument('app1', 'fits')).toMatchObject({ revision: 1, data: fits });
    // Bytes, not characters: 'é' is two bytes of UTF-8.
    expect((await refusal(docs.create(ann, 'wide', { text: 'é'.repeat(50) }))).code).toBe(ErrorCode.TooLarge);
  });

  it('defaults to 64 KiB', async () => {
    const docs = documents();
    await docs.create(ann, 'at-limit', 'x'.repeat(64 * 1024 - 2));
    expect((await refusal(docs.create(ann, 'over', 'x'.repeat(64 * 1024 - 1)))).code).toBe(ErrorCode.TooLarge);
  });
});

describe('documents per app', () => {
  it('are at most maxPerApp: past it a create is 42900 saying what to do; other apps unaffected', async () => {
    const docs = documents({ maxPerApp: 2 });
    await docs.create(ann, 'one', {});
    await docs.create(ann, 'two', {});
    const full = await refusal(docs.create(ann, 'three', {}));
    expect(full.code).toBe(ErrorCode.RateLimited);
    expect(full.message).toMatch(/--max-documents-per-app/);
    expect(await docs.create({ app: 'app2', clientId: 'x' }, 'three', {})).toMatchObject({ revision: 1 });
    await docs.delete(ann, 'one');
    expect(await docs.create(ann, 'three', {})).toMatchObject({ revision: 1 });
  });
});
