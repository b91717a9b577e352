import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../support/browser.js';
import { startProgram } from '../support/process.js';

const OUTPUT = fileURLToPath(new URL('../../test-output/chat/', import.meta.url));
const SERVER = fileURLToPath(new URL('../../examples/chat/server.mjs', import.meta.url));

describe.runIf(browserAvailable())('examples/chat in a real browser', () => {
  let chat: ChildProcess;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    const started = await startProgram([SERVER], /chat listening on (http:\/\/\S+)/, { PORT: '0' });
    chat = started.proc;
    base = started.match[1];
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    chat?.kill();
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
  });
});
