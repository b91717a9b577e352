import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../support/browser.js';
import { startProgram } from '../support/process.js';
import { runCli, startServer, type RunningServer } from '../support/server.js';
import { until } from '../support/wait.js';

const OUTPUT = fileURLToPath(new URL('../../test-output/chat/', import.meta.url));
const SERVER = fileURLToPath(new URL('../../examples/chat/server.mjs', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../packages/client/dist/browser/hubbub.js', import.meta.url));
const READY = /chat on (http:\/\/\S+)/;
/** The SDK backs off up to its cap between attempts; a restart is waited for across a few of them. */
const RECOVERY_MS = 25_000;

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

describe.runIf(browserAvailable())('examples/chat (hubbub serve + @hubbub/client) in a real browser', () => {
  let hubbub: RunningServer;
  let dataDir: string;
  let chat: ChildProcess;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    expect(existsSync(BUNDLE), 'the browser SDK bundle is built (npm run build)').toBe(true);
    dataDir = mkdtempSync(join(tmpdir(), 'hubbub-chat-test-'));
    const created = await runCli(['keys', 'create', '--app', 'chat', '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    hubbub = await startServer([], { dataDir });
    const started = await startProgram([SERVER], READY, {
      PORT: '0',
      HOST: '127.0.0.1',
      HUBBUB_URL: hubbub.http,
      HUBBUB_API_KEY: created.stdout.trim(),
    });
    chat = started.proc;
    base = started.match[1].replace('localhost', '127.0.0.1');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    chat?.kill();
    await hubbub?.stop('SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** `hubbub serve` goes down and comes back on the same port and data dir (its memory is lost). */
  async function stopHubbub(): Promise<void> {
    await hubbub.stop('SIGTERM');
  }
  async function startHubbubAgain(): Promise<void> {
    hubbub = await startServer([], { port: hubbub.port, dataDir });
  }

  async function open(viewport: { width: number; height: number }, query = ''): Promise<Page> {
    const page = await (await browser.newContext({ viewport })).newPage();
    await page.goto(`${base}/${query}`);
    return page;
  }

  /** Join through the form, as a person would. */
  async function joinWithForm(page: Page, name: string): Promise<void> {
    await page.locator('#name').fill(name);
    await page.locator('#name').press('Enter');
    await connected(page);
  }

  function connected(page: Page, timeout = 10_000): Promise<void> {
    return page.locator('#status[data-state="connected"]').waitFor({ timeout });
  }

  async function members(page: Page): Promise<string[]> {
    return (await page.locator('#members li').allTextContents()).map((s) => s.trim()).sort();
  }

  async function line(page: Page, text: string): Promise<void> {
    await page.locator('#messages li', { hasText: text }).first().waitFor();
  }

  async function say(page: Page, text: string): Promise<void> {
    await page.locator('#text').fill(text);
    await page.locator('#text').press('Enter');
  }

  async function noHorizontalScroll(page: Page): Promise<void> {
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.scrollingElement!.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(scrollWidth, 'page is no wider than the viewport').toBeLessThanOrEqual(innerWidth);
  }

  async function inputUsable(page: Page, viewport: { width: number; height: number }): Promise<void> {
    const input = page.locator('#text');
    expect(await input.isVisible()).toBe(true);
    expect(await input.isEditable()).toBe(true);
    const box = (await input.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
    expect(box.y + box.height).toBeLessThanOrEqual(viewport.height);
    expect(box.width).toBeGreaterThan(120);
  }

  /**
   * Two people chat; a name with a space works; switching rooms shows that room's history;
   * presence and typing show; then `hubbub serve` restarts mid-chat and both pages recover,
   * delivering what was typed meanwhile.
   */
  async function chatFlow(viewport: { width: number; height: number }, names: { a: string; b: string }, tag: string): Promise<void> {
    const phone = viewport.width < 600;
    const alice = await open(viewport);
    await joinWithForm(alice, names.a);
    const bob = await open(viewport, `?name=${encodeURIComponent(names.b)}`);
    await connected(bob);
    expect(await bob.locator('#login').isVisible()).toBe(false);

    await expect.poll(() => members(alice)).toEqual([names.a, names.b].sort());
    await expect.poll(() => members(bob)).toEqual([names.a, names.b].sort());

    // Typing shows on the other page, and clears once the line is sent.
    await alice.locator('#text').pressSequentially(`hello ${tag} bo`, { delay: 20 });
    await bob.locator('#typing', { hasText: `${names.a} is typing` }).waitFor();
    await alice.locator('#text').press('b');
    await alice.locator('#text').press('Enter');
    await line(bob, `hello ${tag} bob`);
    expect(await bob.locator('#messages li', { hasText: `hello ${tag} bob` }).textContent()).toContain(names.a);
    await expect.poll(() => bob.locator('#typing').textContent()).toBe('');
    await say(bob, `hi ${tag} ann`);
    await line(alice, `hi ${tag} ann`);

    // A long unbroken line must wrap, not widen the page.
    await say(bob, `${tag}-${'x'.repeat(180)}`);
    await line(alice, `${tag}-xxxx`);

    // History on room switch: a line said in #random before bob came in shows when he does.
    await alice.locator('#rooms button[data-room="random"]').click();
    await alice.locator('#title', { hasText: 'random' }).waitFor();
    await expect.poll(() => members(alice)).toEqual([names.a]);
    await expect.poll(() => members(bob)).toEqual([names.b]);
    await say(alice, `note for random ${tag}`);
    await line(alice, `note for random ${tag}`);
    await bob.locator('#rooms button[data-room="random"]').click();
    await line(bob, `note for random ${tag}`);
    expect(await bob.locator('#messages li', { hasText: `hello ${tag} bob` }).count()).toBe(0);
    await expect.poll(() => members(bob)).toEqual([names.a, names.b].sort());
    // And back: #general's history (said before this visit) is there again.
    await bob.locator('#rooms button[data-room="general"]').click();
    await line(bob, `hello ${tag} bob`);
    await line(bob, `hi ${tag} ann`);
    await bob.locator('#rooms button[data-room="random"]').click();
    await line(bob, `note for random ${tag}`);
    await expect.poll(() => members(alice)).toEqual([names.a, names.b].sort());

    if (phone) {
      await noHorizontalScroll(alice);
      await noHorizontalScroll(bob);
      await inputUsable(alice, viewport);
      await inputUsable(bob, viewport);
    }
    mkdirSync(OUTPUT, { recursive: true });
    await bob.screenshot({ path: `${OUTPUT}/${phone ? 'phone' : 'desktop'}-chat.png` });

    // The server goes away mid-chat: both pages say they are reconnecting.
    await stopHubbub();
    for (const page of [alice, bob]) {
      await page.locator('#status[data-state="reconnecting"]').waitFor();
      expect(await page.locator('#status').textContent()).toMatch(/reconnecting/i);
    }
    // A line typed meanwhile waits, shown as pending.
    await say(alice, `typed while down ${tag}`);
    await alice.locator('#messages li.pending', { hasText: `typed while down ${tag}` }).waitFor();
    // Errors are shown, not swallowed: joining while hubbub is down says why it failed.
    const carol = await open(viewport);
    await carol.locator('#name').fill('Carol');
    await carol.locator('#name').press('Enter');
    await expect.poll(() => carol.locator('#login-error').textContent()).toMatch(/hubbub/i);
    expect(await carol.locator('#login-error').isVisible()).toBe(true);
    await bob.screenshot({ path: `${OUTPUT}/${phone ? 'phone' : 'desktop'}-reconnecting.png` });

    await startHubbubAgain();
    await connected(alice, RECOVERY_MS);
    await connected(bob, RECOVERY_MS);
    await line(bob, `typed while down ${tag}`);
    await until(async () => (await alice.locator('#messages li.pending').count()) === 0, 'the queued line to be acknowledged');
    await expect.poll(() => members(alice), { timeout: 10_000 }).toEqual([names.a, names.b].sort());
    await expect.poll(() => members(bob), { timeout: 10_000 }).toEqual([names.a, names.b].sort());
    // And the chat goes on.
    await say(bob, `back again ${tag}`);
    await line(alice, `back again ${tag}`);
    if (phone) {
      await noHorizontalScroll(alice);
      await noHorizontalScroll(bob);
      await inputUsable(bob, viewport);
    }

    await alice.close();
    await expect.poll(() => members(bob)).toEqual([names.b]);
    await bob.close();
    await carol.close();
  }

  it('chats with rooms, history, presence and typing, and recovers from a server restart', async () => {
    await chatFlow(DESKTOP, { a: 'Ann Lee', b: 'Bob' }, 'desk');
  }, 120_000);

  it('does the same at phone width (390×844) without horizontal scrolling', async () => {
    await chatFlow(PHONE, { a: 'Zoë Ng', b: 'Raj K.' }, 'phone');
  }, 120_000);

  it('shows why a name is refused', async () => {
    const page = await open(DESKTOP);
    await page.locator('#name').fill('x'.repeat(200));
    await page.locator('#name').press('Enter');
    await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/name/i);
    expect(await page.locator('#login').isVisible()).toBe(true);
    await page.close();
  });

  it('shows a refused publish on its line and in the error banner', async () => {
    const page = await open(DESKTOP, '?name=Flood');
    await connected(page);
    await page.locator('#rooms button[data-room="help"]').click();
    await page.locator('#title', { hasText: 'help' }).waitFor();
    // Far past the server's publish rate (50/s, burst 100): some are refused with 42900.
    await page.evaluate(() => {
      const input = document.getElementById('text') as HTMLInputElement;
      const form = document.getElementById('send') as HTMLFormElement;
      for (let i = 0; i < 160; i++) {
        input.value = `flood ${i}`;
        form.requestSubmit();
      }
    });
    await page.locator('#messages li.failed').first().waitFor();
    expect(await page.locator('#messages li.failed').first().textContent()).toMatch(/not sent: .*42900/);
    await expect.poll(() => page.locator('#error-text').textContent()).toMatch(/not sent.*42900/);
    expect(await page.locator('#error').isVisible()).toBe(true);
    await page.close();
  });

  // Last: it swaps hubbub serve for one that knows neither the page's token nor the example's API key.
  it('shows the failed state with its reason when no token can be had any more', async () => {
    const page = await open(DESKTOP, '?name=Eve');
    await connected(page);
    await hubbub.stop('SIGTERM');
    const strangerDir = mkdtempSync(join(tmpdir(), 'hubbub-chat-stranger-'));
    hubbub = await startServer([], { port: hubbub.port, dataDir: strangerDir, env: { JWT_SIGNING_KEY: 'a-different-signing-key-0123456789' } });
    try {
      // Up to one backoff to reach the new server, then three renewals that fail, each after a backoff.
      await page.locator('#status[data-state="failed"]').waitFor({ timeout: 45_000 });
      expect(await page.locator('#status').textContent()).toMatch(/failed.*refused the token request/is);
      await expect.poll(() => page.locator('#error-text').textContent()).toMatch(/connection failed/i);
      expect(await page.locator('#retry').isVisible()).toBe(true);
    } finally {
      await page.close();
      await hubbub.stop('SIGKILL');
      rmSync(strangerDir, { recursive: true, force: true });
    }
  }, 70_000);
});

describe.runIf(browserAvailable())('npm run example:chat (the example starts its own hubbub serve)', () => {
  it('serves the page, chats, and stops its hubbub serve when it stops', async () => {
    const started = await startProgram([SERVER], READY, { PORT: '0', HOST: '127.0.0.1', HUBBUB_URL: '', HUBBUB_API_KEY: '', HUBBUB_PORT: '0' });
    let hubbubPid = NaN;
    let browser: Browser | undefined;
    try {
      hubbubPid = Number(/hubbub serve \(pid (\d+)\)/.exec(started.output.join('\n'))?.[1]);
      expect(hubbubPid, started.output.join('\n')).toBeGreaterThan(0);
      browser = await launchBrowser();
      const page = await browser.newPage({ viewport: DESKTOP });
      await page.goto(`${started.match[1].replace('localhost', '127.0.0.1')}/?name=${encodeURIComponent('Dee Dee')}`);
      await page.locator('#status[data-state="connected"]').waitFor({ timeout: 10_000 });
      await page.locator('#members li', { hasText: 'Dee Dee' }).waitFor();
      await page.locator('#text').fill('on its own');
      await page.locator('#text').press('Enter');
      await page.locator('#messages li:not(.pending)', { hasText: 'on its own' }).waitFor();
    } finally {
      await browser?.close();
      const exited = new Promise((resolve) => started.proc.once('exit', resolve));
      started.proc.kill('SIGTERM');
      await exited;
    }
    await until(() => !alive(hubbubPid), 'the example’s hubbub serve to stop with it');
  }, 60_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
