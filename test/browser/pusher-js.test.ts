/**
 * pusher-js from its npm browser bundle (dist/web/pusher.min.js), on a page in Chromium, against a real
 * `hubbub serve`: a public channel gets an event the `pusher` SDK triggers; a private channel is
 * authorized through an auth endpoint the test serves (signing with the SDK, as an app backend does)
 * and carries both SDK events and client events between two pages.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserAvailable, launchBrowser } from '../support/browser.js';
import { backend, startPusherServer, type PusherApp } from '../support/pusher.js';
import { cleanup, type RunningServer } from '../support/server.js';

const BUNDLE = readFileSync(fileURLToPath(new URL('../../node_modules/pusher-js/dist/web/pusher.min.js', import.meta.url)));

/** The page: pusher-js from the bundle, pointed at the server its query names; what it sees goes to `window.log`. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>pusher-js</title><body>
<script src="/pusher.min.js"></script>
<script>
const q = new URLSearchParams(location.search);
window.log = [];
const pusher = new Pusher(q.get('key'), {
  cluster: 'mt1',
  wsHost: '127.0.0.1',
  wsPort: Number(q.get('port')),
  forceTLS: false,
  enabledTransports: ['ws'],
  channelAuthorization: { endpoint: '/pusher/auth', transport: 'ajax', headers: { 'X-User': q.get('user') || '' } },
});
pusher.connection.bind('state_change', (s) => window.log.push({ state: s.current }));
window.channels = {};
for (const name of q.getAll('channel')) {
  const channel = pusher.subscribe(name);
  channel.bind('pusher:subscription_succeeded', () => window.log.push({ channel: name, event: 'subscribed' }));
  channel.bind('pusher:subscription_error', (e) => window.log.push({ channel: name, event: 'refused', status: e.status }));
  channel.bind_global((event, data) => { if (!event.startsWith('pusher:')) window.log.push({ channel: name, event, data }); });
  window.channels[name] = channel;
}
window.pusher = pusher;
</script></body>`;

interface Logged {
  state?: string;
  channel?: string;
  event?: string;
  data?: unknown;
  status?: number;
}

describe.runIf(browserAvailable())('pusher-js (npm browser bundle) in Chromium against hubbub serve', () => {
  let server: RunningServer;
  let app: PusherApp;
  let pages: Server;
  let origin: string;
  let browser: Browser;
  const authorized: string[] = [];

  beforeAll(async () => {
    ({ server, app } = await startPusherServer());
    const signer = backend(app, server.port);
    pages = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/pusher.min.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(BUNDLE);
      if (req.method === 'GET' && req.url?.startsWith('/?')) return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      if (req.method !== 'POST' || req.url !== '/pusher/auth') return void res.writeHead(404).end();
      // The app backend: pusher-js posts socket_id and channel_name as a form; only a known user is signed for.
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const channel = form.get('channel_name') ?? '';
        authorized.push(channel);
        if (req.headers['x-user'] !== 'ada') return void res.writeHead(403).end('forbidden');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(signer.authorizeChannel(form.get('socket_id') ?? '', channel)));
      });
    });
    await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', () => resolve()));
    origin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pages?.close(resolve));
    await cleanup(server);
  });

  async function open(channels: string[], user = 'ada'): Promise<{ page: Page; sockets: string[] }> {
    const page = await (await browser.newContext()).newPage();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    const query = new URLSearchParams({ key: app.key, port: String(server.port), user });
    for (const c of channels) query.append('channel', c);
    await page.goto(`${origin}/?${query}`);
    return { page, sockets };
  }

  const log = (page: Page) => page.evaluate(() => (window as unknown as { log: Logged[] }).log);
  const subscribed = (page: Page, channel: string) => expect.poll(async () => (await log(page)).some((e) => e.channel === channel && e.event === 'subscribed')).toBe(true);
  const events = async (page: Page, channel: string, event: string) => (await log(page)).filter((e) => e.channel === channel && e.event === event).map((e) => e.data);

  it('connects over /app/{key}, subscribes to a public channel and gets an event the pusher SDK triggers', async () => {
    const { page, sockets } = await open(['lobby']);
    await subscribed(page, 'lobby');
    expect(sockets).toHaveLength(1);
    expect(sockets[0]).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${server.port}/app/${app.key}\\?protocol=7&`));
    await backend(app, server.port).trigger('lobby', 'greeting', { text: 'hello, browser' });
    await expect.poll(() => events(page, 'lobby', 'greeting')).toEqual([{ text: 'hello, browser' }]);
    await page.context().close();
  });

  it('a private channel through the page’s auth endpoint: SDK events, and client events to the other page only', async () => {
    const a = await open(['private-orders']);
    const b = await open(['private-orders']);
    await subscribed(a.page, 'private-orders');
    await subscribed(b.page, 'private-orders');
    expect(authorized.filter((c) => c === 'private-orders').length).toBeGreaterThanOrEqual(2);

    await backend(app, server.port).trigger('private-orders', 'shipped', { id: 42 });
    await expect.poll(() => events(a.page, 'private-orders', 'shipped')).toEqual([{ id: 42 }]);
    await expect.poll(() => events(b.page, 'private-orders', 'shipped')).toEqual([{ id: 42 }]);

    const sent = await a.page.evaluate(() => (window as unknown as { channels: Record<string, { trigger(e: string, d: unknown): boolean }> }).channels['private-orders'].trigger('client-typing', { who: 'a' }));
    expect(sent).toBe(true);
    await expect.poll(() => events(b.page, 'private-orders', 'client-typing')).toEqual([{ who: 'a' }]);
    // b answers; a gets the answer, and its own client event never came back to it.
    await b.page.evaluate(() => (window as unknown as { channels: Record<string, { trigger(e: string, d: unknown): boolean }> }).channels['private-orders'].trigger('client-reply', 'ok'));
    await expect.poll(() => events(a.page, 'private-orders', 'client-reply')).toEqual(['ok']);
    expect(await events(a.page, 'private-orders', 'client-typing')).toEqual([]);
    await a.page.context().close();
    await b.page.context().close();
  });

  it('a user the auth endpoint refuses gets pusher:subscription_error with its 403, and stays connected', async () => {
    const { page } = await open(['private-orders', 'lobby'], 'mallory');
    await expect.poll(async () => (await log(page)).find((e) => e.channel === 'private-orders' && e.event === 'refused')?.status).toBe(403);
    await subscribed(page, 'lobby');
    expect((await log(page)).filter((e) => e.state !== undefined).at(-1)?.state).toBe('connected');
    await page.context().close();
  });
});
