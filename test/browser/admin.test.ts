import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
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

  /** A fresh browser context (no cookies) on /admin, logged in through the form. */
  async function loggedIn(): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${server.http}/admin`);
    await page.locator('#admin-key').fill(ADMIN_KEY);
    await page.locator('#admin-key').press('Enter');
    await page.locator('#status.live').waitFor();
    return page;
  }

  it('says so on the form when the key is wrong', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.http}/admin`);
    await page.locator('#admin-key').fill('not-the-admin-key');
    await page.locator('#admin-key').press('Enter');
    await expect.poll(() => page.locator('#login-error').textContent(), { timeout: 5_000 }).toMatch(/wrong admin key/i);
    expect(await page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#status').textContent()).not.toBe('live');
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: `${OUTPUT}/wrong-key.png` });
    await page.close();
  });

  it('asks for the key, then shows live counters, charts, top channels and presence', async () => {
    const urls: string[] = [];
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (r) => urls.push(r.url()));
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
    // The key went in a POST body, never in a URL a proxy could log.
    expect(urls.filter((u) => u.includes(ADMIN_KEY))).toEqual([]);
    await page.close();
  });

  it('labels both axes of every chart: time with ticks on x, the quantity and unit on y', async () => {
    const page = await loggedIn();
    for (const [id, y] of [['#chart-traffic', /messages\s*\/\s*s/i], ['#chart-connections', /connections|channels/i]] as const) {
      await expect.poll(() => page.locator(`${id} .axis-title.x`).textContent(), { timeout: 5_000 }).toMatch(/time/i);
      expect(await page.locator(`${id} .axis-title.y`).textContent()).toMatch(y);
      const ticks = await page.locator(`${id} .tick.x`).allTextContents();
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.at(-1)).toMatch(/now|\d{1,2}:\d{2}/);
      expect((await page.locator(`${id} .tick.y`).allTextContents()).length).toBeGreaterThanOrEqual(2);
    }
    await page.close();
  });

  it('shows an error with its code name and what it means', async () => {
    const page = await loggedIn();
    const limited = await devtoken('foony', 'carol', ['--capability', '{"chat:*":["subscribe","publish"]}']);
    const c = client(server.url, { token: limited });
    await expect(c.channels.get('admin').publish('x', 1)).rejects.toMatchObject({ code: 40301 });
    const row = page.locator('#errors tr', { hasText: '40301' });
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toMatch(/40301\s*Capability/);
    expect(await row.textContent()).toMatch(/capability does not grant/i);
    await page.locator('#recent-errors li', { hasText: '40301 Capability' }).first().waitFor();
    mkdirSync(OUTPUT, { recursive: true });
    await page.locator('.card', { has: page.locator('#errors') }).screenshot({ path: `${OUTPUT}/errors.png` });
    await page.close();
  });

  it('logs out: the form comes back and the session no longer opens the stream', async () => {
    const page = await loggedIn();
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'hubbub_admin');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Strict');
    expect(session?.value).not.toContain(ADMIN_KEY);
    await page.locator('#logout').click();
    await page.locator('#login').waitFor();
    expect(await page.locator('#status').textContent()).not.toBe('live');
    const res = await fetch(`${server.http}/admin/stream`, { headers: { cookie: `hubbub_admin=${session!.value}` } });
    expect(res.status).toBe(401);
    await page.reload();
    await page.locator('#login').waitFor();
    await page.close();
  });

  it('refuses the stream without the right key', async () => {
    const res = await fetch(`${server.http}/admin/stream?key=wrong`);
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe(40300);
  });
});
