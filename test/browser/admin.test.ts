import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../support/browser.js';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { client, closeClients } from '../support/clients.js';

const OUTPUT = fileURLToPath(new URL('../../test-output/admin/', import.meta.url));
const ADMIN_KEY = 'admin-key-for-tests-0123456789';

describe.runIf(browserAvailable())('/admin in a real browser', () => {
  let server: RunningServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startServer(['--admin-key', ADMIN_KEY]);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    closeClients();
    await browser?.close();
    await cleanup(server);
  });

  it('asks for the key, then shows live counters, charts, top channels and presence', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.http}/admin`);
    await page.locator('#admin-key').fill(ADMIN_KEY);
    await page.locator('#admin-key').press('Enter');
    await page.locator('#status.live').waitFor();

    const [alice, bob] = await Promise.all([devtoken('foony', 'alice'), devtoken('foony', 'bob')]);
    const a = client(server.url, { token: alice });
    const b = client(server.url, { token: bob });
    b.channels.get('chat:lobby').on(() => {});
    await b.channels.get('chat:lobby').presence.enter({ role: 'listener' });
    await a.channels.get('chat:lobby').presence.enter();
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        await a.channels.get('chat:lobby').publish('tick', i).catch(() => {});
        await new Promise((r) => setTimeout(r, 25));
      }
    })();

    await expect.poll(async () => Number(await page.locator('#connections').textContent()), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(async () => Number((await page.locator('#msgs-in').textContent())?.replace(/,/g, '')), { timeout: 10_000 }).toBeGreaterThan(5);
    await expect.poll(async () => Number((await page.locator('#deliveries').textContent())?.replace(/,/g, '')), { timeout: 10_000 }).toBeGreaterThan(5);
    await page.locator('#top-channels td', { hasText: 'chat:lobby' }).waitFor();
    await page.locator('#apps td', { hasText: 'foony' }).waitFor();
    const points = await page.locator('#chart-traffic polyline[data-series="0"]').getAttribute('points');
    expect(points!.split(' ').length).toBeGreaterThan(2);

    await page.locator('#presence-app').fill('foony');
    await page.locator('#presence-channel').fill('chat:lobby');
    await page.locator('#presence-form button').click();
    await expect.poll(async () => (await page.locator('#presence-list li').allTextContents()).sort(), { timeout: 10_000 }).toEqual(['alice', 'bob']);

    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: `${OUTPUT}/dashboard.png`, fullPage: true });
    stop = true;
    await traffic;
  });

  it('refuses the stream without the right key', async () => {
    const res = await fetch(`${server.http}/admin/stream?key=wrong`);
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe(40300);
  });
});
