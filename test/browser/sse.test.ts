/**
 * `GET /sse` read by Chromium's own EventSource, from a page of another origin: named events, and the
 * browser's automatic reconnect with `Last-Event-ID` after the server ends the stream (a restart of
 * the node it was on, while messages are published through another node of the same Redis).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../support/browser.js';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { TestRedis, redisAvailable } from '../support/redis.js';
import { sign } from '../hostile/support.js';

/** The page: one EventSource per `?stream=` URL, every event it sees kept in `window.seen`. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>sse</title><body><script>
window.seen = [];
window.opens = 0;
for (const url of new URLSearchParams(location.search).getAll('stream')) {
  const source = new EventSource(url);
  source.onopen = () => window.opens++;
  for (const type of ['n', 'discontinuity']) {
    source.addEventListener(type, (e) => window.seen.push({ url, type, data: JSON.parse(e.data), lastEventId: e.lastEventId }));
  }
}
</script></body>`;

interface Seen {
  url: string;
  type: string;
  data: { channel: string; name: string; data: unknown; seq?: number };
  lastEventId: string;
}

describe.runIf(browserAvailable() && redisAvailable())('GET /sse in Chromium (a real EventSource)', () => {
  let redis: TestRedis;
  let a: RunningServer;
  let b: RunningServer;
  let dataDir: string;
  let pages: Server;
  let pageOrigin: string;
  let browser: Browser;
  let token: string;

  beforeAll(async () => {
    redis = await TestRedis.start();
    dataDir = mkdtempSync(join(tmpdir(), 'hubbub-sse-browser-'));
    a = await startServer(['--redis', redis.url], { dataDir });
    b = await startServer(['--redis', redis.url], { dataDir });
    pages = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE));
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', () => resolve()));
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    browser = await launchBrowser();
    token = await sign('browser', 'reader');
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pages?.close(resolve));
    await cleanup(a);
    await cleanup(b);
    await redis?.stop();
  });

  async function publish(node: RunningServer, channel: string, data: unknown): Promise<void> {
    const res = await fetch(`${node.http}/channels/${channel}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'n', data }),
    });
    expect(res.status).toBe(200);
  }

  const seen = (page: Page) => page.evaluate(() => (window as unknown as { seen: Seen[] }).seen);
  const opens = (page: Page) => page.evaluate(() => (window as unknown as { opens: number }).opens);
  const values = (events: Seen[], url: string, channel: string) =>
    events.filter((e) => e.url === url && e.data.channel === channel).map((e) => e.data.data);

  it('receives named events, and after the server ends the stream resumes with Last-Event-ID: nothing lost, nothing twice', async () => {
    const both = `${a.http}/sse?channel=left&channel=right&token=${token}`;
    // A stream that gets nothing before the cut: its first block (an id alone) is what it resumes from.
    const quiet = `${a.http}/sse?channel=quiet&token=${token}`;
    const page = await (await browser.newContext()).newPage();
    const requests: Array<Promise<string>> = [];
    page.on('request', (req) => {
      if (req.url().startsWith(`${a.http}/sse`)) requests.push(req.allHeaders().then((h) => h['last-event-id'] ?? ''));
    });
    await page.goto(`${pageOrigin}/?stream=${encodeURIComponent(both)}&stream=${encodeURIComponent(quiet)}`);
    await expect.poll(() => opens(page)).toBe(2);

    for (let i = 1; i <= 3; i++) {
      await publish(a, 'left', i);
      await publish(b, 'right', i * 10);
    }
    await expect.poll(async () => (await seen(page)).length).toBe(6);
    const before = await seen(page);
    expect(before.every((e) => e.type === 'n' && e.data.name === 'n' && e.lastEventId !== '')).toBe(true);
    const lastId = before.at(-1)!.lastEventId;

    // Node A goes away (its streams end cleanly); messages go on through node B meanwhile.
    await a.stop('SIGTERM');
    for (let i = 4; i <= 6; i++) {
      await publish(b, 'left', i);
      await publish(b, 'right', i * 10);
    }
    await publish(b, 'quiet', 'while away');
    a = await startServer(['--redis', redis.url], { dataDir, port: a.port });

    // The page's EventSources reconnect by themselves, sending the last id each had.
    await expect.poll(() => opens(page), { timeout: 20_000 }).toBe(4);
    await publish(a, 'left', 'live');
    await expect.poll(async () => values(await seen(page), both, 'left').at(-1), { timeout: 10_000 }).toBe('live');
    await expect.poll(async () => values(await seen(page), quiet, 'quiet')).toEqual(['while away']);

    const after = await seen(page);
    expect(values(after, both, 'left')).toEqual([1, 2, 3, 4, 5, 6, 'live']);
    expect(values(after, both, 'right')).toEqual([10, 20, 30, 40, 50, 60]);
    expect(after.some((e) => e.type === 'discontinuity')).toBe(false);
    const reconnects = await Promise.all(requests);
    expect(reconnects.slice(0, 2)).toEqual(['', '']);
    expect(reconnects.slice(2), 'the reconnects carried Last-Event-ID').toContain(lastId);
    expect(reconnects.slice(2).every((id) => id !== ''), 'even the quiet stream had an id').toBe(true);
  });
});
