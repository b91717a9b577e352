import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../support/browser.js';
import { startProgram } from '../support/process.js';

const OUTPUT = fileURLToPath(new URL('../../test-output/embedding/', import.meta.url));
const SERVER = fileURLToPath(new URL('../../examples/embedding/server.mjs', import.meta.url));
const READY = /embedding chat listening on (http:\/\/\S+)/;

describe.runIf(browserAvailable())('examples/embedding (HubSocketServer + ChannelHub) in a real browser', () => {
  let chat: ChildProcess;
  let base: string;
  let browser: Browser;

  async function startChat(port = '0'): Promise<void> {
    const started = await startProgram([SERVER], READY, { PORT: port });
    chat = started.proc;
    base = started.match[1];
  }
  async function stopChat(): Promise<void> {
    if (chat.exitCode !== null || chat.signalCode !== null) return;
    const exited = new Promise((resolve) => chat.once('exit', resolve));
    chat.kill();
    await exited;
  }

  beforeAll(async () => {
    await startChat();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    if (chat) await stopChat();
  });

  it('shows messages, the typing indicator and the presence list across two pages', async () => {
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    await alice.goto(`${base}/?user=alice`);
    await alice.locator('#members li', { hasText: 'alice' }).waitFor();
    await bob.goto(`${base}/?user=bob`);
    expect(await bob.locator('#login').isVisible()).toBe(false);

    await expect.poll(() => alice.locator('#members li').allTextContents()).toEqual(['alice', 'bob']);
    await expect.poll(() => bob.locator('#members li').allTextContents()).toEqual(['alice', 'bob']);

    await alice.locator('#text').pressSequentially('hello bo', { delay: 20 });
    await bob.locator('#typing', { hasText: 'alice is typing…' }).waitFor();
    await alice.locator('#text').press('b');
    await alice.locator('#text').press('Enter');
    await bob.locator('#messages li', { hasText: 'hello bob' }).waitFor();
    expect(await bob.locator('#messages li').first().textContent()).toBe('alicehello bob');
    await expect.poll(() => bob.locator('#typing').textContent()).toBe('');

    await bob.locator('#text').fill('hi alice');
    await bob.locator('#text').press('Enter');
    await alice.locator('#messages li', { hasText: 'hi alice' }).waitFor();

    mkdirSync(OUTPUT, { recursive: true });
    await bob.screenshot({ path: `${OUTPUT}/two-users.png` });

    await alice.close();
    await expect.poll(() => bob.locator('#members li').allTextContents()).toEqual(['bob']);
    await bob.close();
  });

  it('says which names it takes instead of failing silently on a name with a space', async () => {
    const page = await browser.newPage();
    await page.goto(base);
    await page.locator('#name').fill('Ann Lee');
    await page.locator('#name').press('Enter');
    await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/no spaces/);
    expect(await page.locator('#login').isVisible()).toBe(true);
    await page.close();
  });

  it('shows a lost connection and reconnects into the same room on request', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/?user=carol`);
    await page.locator('#rooms button[data-room="help"]').click();
    await page.locator('#title', { hasText: 'help' }).waitFor();
    await page.locator('#members li', { hasText: 'carol' }).waitFor();

    const port = new URL(base).port;
    await stopChat();
    await page.locator('#state', { hasText: 'Disconnected' }).waitFor();
    await startChat(port);
    await page.locator('#state button', { hasText: 'Reconnect' }).click();
    await page.locator('#state').waitFor({ state: 'hidden' });
    await page.locator('#members li', { hasText: 'carol' }).waitFor();
    expect(await page.locator('#title').textContent()).toBe('# help');
    await page.close();
  });
});
