/**
 * What one credential can make the server hold through the REST API: publishes are rate limited per
 * API key (per app and client id for tokens) with 429 + 42900 + Retry-After, spreading over many
 * channel names gains nothing, and documents are bounded in size (41300) and in number per app
 * (42900), with listings in pages. A bystander on the same app must not notice any of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { closeClients } from '../support/clients.js';
import { bystander, sign, type Bystander } from './support.js';

const RATE = 20;
const BURST = 40;
const MAX_DOCUMENTS = 8;
const MAX_DOCUMENT_BYTES = 2048;

let server: RunningServer;
let watch: Bystander;
let keyA: string;
let keyB: string;

beforeAll(async () => {
  server = await startServer([
    '--rest-publish-rate', String(RATE),
    '--rest-publish-burst', String(BURST),
    '--max-documents-per-app', String(MAX_DOCUMENTS),
    '--max-document-size', String(MAX_DOCUMENT_BYTES),
  ]);
  watch = await bystander(server);
  keyA = await createKey();
  keyB = await createKey();
});
afterAll(async () => {
  closeClients();
  await cleanup(server);
});

async function createKey(): Promise<string> {
  const created = await runCli(['keys', 'create', '--app', 'hostile', '--data-dir', server.dataDir]);
  expect(created.code, created.stderr).toBe(0);
  return created.stdout.trim();
}

const basic = (key: string) => `Basic ${Buffer.from(key).toString('base64')}`;

interface Reply {
  status: number;
  json: any;
  headers: Headers;
}

async function call(method: string, path: string, auth: string, body?: unknown): Promise<Reply> {
  const res = await fetch(`${server.http}${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

const publish = (auth: string, channel: string, body: unknown) => call('POST', `/channels/${channel}/messages`, auth, body);

describe('REST publish rate', () => {
  it('one API key flooding gets 429 (42900) with Retry-After past its burst; another key and the bystander carry on', async () => {
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => publish(basic(keyA), 'flood', { name: 'n', data: i })));
    const elapsedS = (Date.now() - started) / 1000;
    const passed = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status !== 200);
    expect(passed.length).toBeGreaterThanOrEqual(BURST);
    expect(passed.length).toBeLessThanOrEqual(BURST + Math.ceil(RATE * elapsedS) + 1);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.status).toBe(429);
      expect(r.json.error).toMatchObject({ code: 42900, statusCode: 429 });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // The other backend of the same app is not slowed by the first one's flood.
    expect((await publish(basic(keyB), 'flood', { name: 'other key' })).status).toBe(200);
    await watch.check('REST publish flood');
    // Only what passed was kept.
    const history = await call('GET', '/channels/flood/messages?limit=1000', basic(keyB));
    expect(history.json.filter((m: { name: string }) => m.name === 'n')).toHaveLength(passed.length);
    // Waiting as told is enough.
    const wait = Number(refused[refused.length - 1]!.headers.get('retry-after'));
    await new Promise((r) => setTimeout(r, wait * 1000));
    expect((await publish(basic(keyA), 'flood', { name: 'after waiting' })).status).toBe(200);
  });

  it('spreading over many channel names, or into arrays, passes no more', async () => {
    const token = await sign('hostile', 'spreader');
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 120 }, (_, i) => publish(`Bearer ${token}`, `spread-${i}`, [{ name: 'a', data: i }, { name: 'b', data: i }])),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const passedMembers = replies.filter((r) => r.status === 200).length * 2;
    expect(passedMembers).toBeLessThanOrEqual(BURST + Math.ceil(RATE * elapsedS) + 2);
    expect(replies.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    // An array larger than the burst could never pass: 41300, not a retry forever.
    const huge = await publish(`Bearer ${await sign('hostile', 'huge')}`, 'spread', Array.from({ length: BURST + 1 }, () => ({ name: 'x' })));
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe(41300);
    // Tokens of another client of the app have a bucket of their own.
    expect((await publish(`Bearer ${await sign('hostile', 'someone-else')}`, 'spread-0', { name: 'n' })).status).toBe(200);
    await watch.check('spread publishes');
  });

  it('two keys of one app publishing one id without a client id are both delivered', async () => {
    const a = await publish(basic(keyA), 'orders', { name: 'order', id: 'order-42', data: 'A' });
    const b = await publish(basic(keyB), 'orders', { name: 'order', id: 'order-42', data: 'B' });
    expect(a.status).toBe(200);
    expect(a.json.duplicate).toBe(false);
    expect(b.json.duplicate).toBe(false);
    expect((await publish(basic(keyB), 'orders', { name: 'order', id: 'order-42', data: 'B' })).json.duplicate).toBe(true);
    const history = await call('GET', '/channels/orders/messages?direction=forwards', basic(keyA));
    expect(history.json.map((m: { data: string; clientId?: string }) => [m.data, m.clientId])).toEqual([
      ['A', undefined],
      ['B', undefined],
    ]);
  });
});

describe('documents', () => {
  it('a document over --max-document-size is 41300; one app holds at most --max-documents-per-app, even racing', async () => {
    const token = `Bearer ${await sign('docs-app', 'writer')}`;
    const big = await call('POST', '/sync/documents', token, { name: 'big', data: 'x'.repeat(MAX_DOCUMENT_BYTES) });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe(41300);
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call('POST', '/sync/documents', token, { name: `doc.${String(i).padStart(2, '0')}`, data: { i } })),
    );
    expect(created.filter((r) => r.status === 200)).toHaveLength(MAX_DOCUMENTS);
    for (const r of created.filter((c) => c.status !== 200)) {
      expect(r.status).toBe(429);
      expect(r.json.error.code).toBe(42900);
      expect(r.json.error.message).toContain('--max-documents-per-app');
    }
    // Another app is not affected by this one being full.
    expect((await call('POST', '/sync/documents', `Bearer ${await sign('docs-other', 'w')}`, { name: 'mine', data: 1 })).status).toBe(200);
    // Listing comes in pages.
    const names: string[] = [];
    let path = '/sync/documents?limit=3';
    for (let pages = 0; pages < 10; pages++) {
      const page = await call('GET', path, token);
      expect(page.status).toBe(200);
      expect(page.json.documents.length).toBeLessThanOrEqual(3);
      names.push(...page.json.documents.map((d: { name: string }) => d.name));
      if (!page.json.next) break;
      path = `/sync/documents?limit=3&cursor=${encodeURIComponent(page.json.next)}`;
    }
    expect(names).toHaveLength(MAX_DOCUMENTS);
    expect(names).toEqual([...names].sort());
    expect((await call('GET', '/sync/documents?limit=100000', token)).json.error.code).toBe(40001);
    await watch.check('document limits');
  });
});
