/**
 * What a newcomer and an SDK user get: a fresh clone whose one `npm install` gives a working
 * `npx hubbub`, and the three packages packed with `npm pack`, installed into a project outside the
 * repo, running the README's Node sample and a browser page against a real server. Plus the checks
 * CI keeps on the packages: the browser bundle's size budget and publint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { browserAvailable, launchBrowser } from '../support/browser.js';
import { startProgram } from '../support/process.js';
import { runToEnd, userEnv, type Ran } from '../support/commands.js';
import { cleanup, devtoken, runCli, SIGNING_KEY, startServer, type RunningServer } from '../support/server.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const README = join(REPO, 'README.md');
const SAMPLE_STAND_IN = join(REPO, 'test/fixtures/readme-sdk-sample.mjs');
const SAMPLE_MARKER = '<!-- runnable: sdk-node -->';
const PACKAGES = ['packages/protocol', 'packages/server', 'packages/client'];
const INSTALL_TIMEOUT_MS = 8 * 60_000;

function run(command: string, args: string[], cwd: string, env = userEnv(), timeoutMs = 60_000): Promise<Ran> {
  return runToEnd(command, args, { cwd, env, timeoutMs });
}

/** Fails with everything the command printed, so a CI log shows why. */
function expectSuccess(ran: Ran, what: string): void {
  if (ran.code !== 0) throw new Error(`${what} exited with ${ran.code}\n--- stdout\n${ran.stdout}\n--- stderr\n${ran.stderr}`);
}

/**
 * A fresh clone of what is about to be committed: every tracked and every new, not ignored file of the
 * working tree. In CI (itself a fresh clone) that is exactly HEAD; locally it includes uncommitted work,
 * which a `git clone` would leave out.
 */
async function freshClone(): Promise<string> {
  const listed = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPO, process.env);
  expectSuccess(listed, 'git ls-files');
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-fresh-clone-'));
  for (const file of listed.stdout.split('\0')) {
    if (!file || !existsSync(join(REPO, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(REPO, file), join(dir, file));
  }
  return dir;
}

/** README's runnable Node sample, or the stand-in until README has one; `localhost:3000` becomes `host`. */
function nodeSample(host: string): { source: string; from: string; prints: string[] } {
  const readme = readFileSync(README, 'utf8');
  const block = readme.includes(SAMPLE_MARKER)
    ? new RegExp(`${SAMPLE_MARKER}\\s*\\n\`\`\`js\\n([\\s\\S]*?)\\n\`\`\``).exec(readme)?.[1]
    : undefined;
  if (readme.includes(SAMPLE_MARKER) && block === undefined) throw new Error(`README.md: no \`\`\`js block right after ${SAMPLE_MARKER}`);
  const source = block ?? readFileSync(SAMPLE_STAND_IN, 'utf8');
  // A line of code ending in `// prints: TEXT` says that the sample prints the line TEXT.
  const prints = [...source.matchAll(/^(?!\s*\/\/).*\/\/ prints: (.+)$/gm)].map((m) => m[1].trim());
  return { source: source.replaceAll('localhost:3000', host), from: block ? 'README.md' : SAMPLE_STAND_IN, prints };
}

describe('a fresh clone', () => {
  let clone: string;

  beforeAll(async () => {
    clone = await freshClone();
  });
  afterAll(() => {
    if (clone) rmSync(clone, { recursive: true, force: true });
  });

  it('has a hubbub bin that says how to build it while the CLI is not built', async () => {
    expect(existsSync(join(clone, 'packages/server/dist'))).toBe(false);
    const ran = await run(process.execPath, ['packages/server/bin/hubbub.js', '--help'], clone);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain('hubbub is not built yet: run npm run build');
  });

  it(
    'after one npm install runs `npx --no-install hubbub` as the README does',
    async () => {
      const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], clone, userEnv(), INSTALL_TIMEOUT_MS);
      expectSuccess(install, 'npm install');

      const help = await run('npx', ['--no-install', 'hubbub', '--help'], clone);
      expectSuccess(help, 'npx --no-install hubbub --help');
      expect(help.stdout).toContain('Usage: hubbub <command>');

      const token = await run('npx', ['--no-install', 'hubbub', 'devtoken', '--app', 'demo', '--client', 'alice'], clone);
      expectSuccess(token, 'npx --no-install hubbub devtoken');
      expect(token.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

      // Every devtoken line of the README's shell blocks, as written there (with npx kept off the registry).
      const readmeLines = readFileSync(join(clone, 'README.md'), 'utf8')
        .split('\n')
        .filter((line) => /^npx (--no-install )?hubbub devtoken /.test(line));
      expect(readmeLines.length).toBeGreaterThan(0);
      for (const line of readmeLines) {
        const ran = await run('bash', ['-c', line.replace(/^npx (--no-install )?hubbub/, 'npx --no-install hubbub')], clone);
        expectSuccess(ran, line);
        expect(ran.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      }

      // `prepare` built the browser bundles the server serves at /sdk/.
      for (const bundle of ['hubbub.js', 'hubbub.iife.js']) expect(existsSync(join(clone, 'packages/client/dist/browser', bundle))).toBe(true);
    },
    INSTALL_TIMEOUT_MS + 60_000,
  );
});

describe('the packed packages in a project outside the repo', () => {
  let packs: string;
  let project: string;
  let server: RunningServer;
  let key: string;

  beforeAll(async () => {
    packs = mkdtempSync(join(tmpdir(), 'hubbub-packs-'));
    project = mkdtempSync(join(tmpdir(), 'hubbub-sdk-user-'));
    const packed = await run('npm', ['pack', '--json', '--pack-destination', packs, ...PACKAGES.flatMap((p) => ['-w', p])], REPO);
    expectSuccess(packed, 'npm pack');
    const tarballs = (JSON.parse(packed.stdout) as { filename: string }[]).map((t) => join(packs, t.filename));
    expect(tarballs).toHaveLength(3);

    expectSuccess(await run('npm', ['init', '-y'], project), 'npm init -y');
    const installed = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, 'ws'], project, userEnv(), INSTALL_TIMEOUT_MS);
    expectSuccess(installed, 'npm install of the tarballs');

    server = await startServer();
    const created = await runCli(['keys', 'create', '--app', 'demo', '--data-dir', server.dataDir]);
    expectSuccess(created, 'hubbub keys create');
    key = created.stdout.trim();
  }, INSTALL_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await cleanup(server);
    for (const dir of [packs, project]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the README Node sample', async () => {
    const sample = nodeSample(`127.0.0.1:${server.port}`);
    expect(sample.prints.length, `${sample.from} says what it prints with "// prints: …" comments`).toBeGreaterThan(0);
    writeFileSync(join(project, 'sample.mjs'), sample.source);
    const ran = await run(process.execPath, ['sample.mjs'], project, userEnv({ HUBBUB_KEY: key }), 20_000);
    expectSuccess(ran, `node sample.mjs (from ${sample.from})`);
    const lines = ran.stdout.split('\n').map((line) => line.trim());
    for (const text of sample.prints) expect(lines, `${sample.from} prints "${text}"`).toContain(text);
  });

  it('runs the installed hubbub CLI, whose server serves the installed browser bundle', async () => {
    const help = await run('npx', ['--no-install', 'hubbub', '--help'], project);
    expectSuccess(help, 'npx --no-install hubbub --help');
    expect(help.stdout).toContain('Usage: hubbub <command>');

    const bin = join(project, 'node_modules/@hubbub/server/bin/hubbub.js');
    const installed = await startProgram(
      [bin, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', join(project, '.hubbub')],
      /listening on http:\/\/localhost:(\d+)/,
      userEnv({ JWT_SIGNING_KEY: SIGNING_KEY }),
    );
    try {
      const served = await fetch(`http://127.0.0.1:${installed.match[1]}/sdk/hubbub.js`);
      expect(served.status).toBe(200);
      const require = createRequire(join(project, 'package.json'));
      expect(await served.text()).toBe(readFileSync(require.resolve('@hubbub/client/browser'), 'utf8'));
    } finally {
      installed.proc.kill('SIGKILL');
    }
  });

  it('gives the Node entry the webhook verifier and keeps it out of the browser entry', async () => {
    const names = await run(
      process.execPath,
      ['--input-type=module', '-e', "import * as sdk from '@hubbub/client'; process.stdout.write(Object.keys(sdk).join(' '))"],
      project,
    );
    expectSuccess(names, 'import @hubbub/client');
    expect(names.stdout.split(' ')).toEqual(expect.arrayContaining(['Realtime', 'RealtimeClient', 'WebhookReceiver', 'verifyWebhook', 'WebhookVerificationError']));
    const browser = await run(
      process.execPath,
      ['--conditions=browser', '--input-type=module', '-e', "import * as sdk from '@hubbub/client'; process.stdout.write(Object.keys(sdk).join(' '))"],
      project,
    );
    expectSuccess(browser, 'import @hubbub/client with the browser condition');
    expect(browser.stdout.split(' ')).toContain('Realtime');
    expect(browser.stdout.split(' ')).not.toContain('WebhookReceiver');
  });

  it('has types that match each entry', async () => {
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const check = (name: string, options: Record<string, unknown>, source: string) => {
      writeFileSync(join(project, `${name}.ts`), source);
      writeFileSync(
        join(project, `tsconfig.${name}.json`),
        JSON.stringify({ compilerOptions: { strict: true, noEmit: true, skipLibCheck: true, types: [], target: 'ES2022', lib: ['ES2022', 'DOM'], ...options }, files: [`${name}.ts`] }),
      );
      return run(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], project);
    };
    const nodeTypes = await check(
      'node-entry',
      { module: 'NodeNext', moduleResolution: 'NodeNext' },
      [
        "import { Realtime, WebhookReceiver, verifyWebhook, WebhookVerificationError, HubbubError } from '@hubbub/client';",
        "import { Realtime as BrowserRealtime } from '@hubbub/client/browser';",
        'export const used = [Realtime, WebhookReceiver, verifyWebhook, WebhookVerificationError, HubbubError, BrowserRealtime];',
      ].join('\n'),
    );
    expectSuccess(nodeTypes, 'tsc on the Node entry');

    const browserTypes = await check(
      'browser-entry',
      { module: 'ESNext', moduleResolution: 'Bundler', customConditions: ['browser'] },
      [
        "import { Realtime, RealtimeClient, WebhookReceiver } from '@hubbub/client';",
        "import { verifyWebhook } from '@hubbub/client/browser';",
        'export const used = [Realtime, RealtimeClient, WebhookReceiver, verifyWebhook];',
      ].join('\n'),
    );
    const errors = browserTypes.stdout.split('\n').filter((line) => line.includes('error TS'));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain("has no exported member 'WebhookReceiver'");
    expect(errors[1]).toContain("has no exported member 'verifyWebhook'");
  });

  describe.runIf(browserAvailable())('in Chromium', () => {
    let browser: Browser;
    let pages: Server;
    let base: string;

    beforeAll(async () => {
      // The installed package's files, found through its exports as a user's tooling would.
      const require = createRequire(join(project, 'package.json'));
      const esm = require.resolve('@hubbub/client/browser');
      const iife = join(dirname(require.resolve('@hubbub/client/package.json')), 'dist/browser/hubbub.iife.js');
      const files: Record<string, [string, string]> = {
        '/sdk/hubbub.js': [esm, 'text/javascript'],
        '/sdk/hubbub.iife.js': [iife, 'text/javascript'],
      };
      pages = createServer((req, res) => {
        const file = files[new URL(req.url ?? '/', 'http://x').pathname];
        if (file) {
          res.writeHead(200, { 'content-type': file[1] }).end(readFileSync(file[0]));
        } else {
          res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
        }
      });
      await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(pages.address() as { port: number }).port}`;
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
      pages?.close();
    });

    it('connects, publishes and receives its own message with the ESM bundle and the classic script', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(String(error)));
      const token = await devtoken('demo', 'carol');
      await page.goto(`${base}/?endpoint=${encodeURIComponent(server.url)}&token=${encodeURIComponent(token)}`);
      const result = await page.waitForFunction(() => (window as unknown as { result?: unknown }).result, undefined, { timeout: 15_000 });
      expect(errors).toEqual([]);
      const { esmReceived, iifeReceived, esmExports, iifeExports } = (await result.jsonValue()) as Record<string, unknown>;
      expect(esmReceived).toBe('carol: hello from the ESM bundle');
      expect(iifeReceived).toBe('carol: hello from the ESM bundle');
      expect(iifeExports).toEqual(esmExports);
      expect(esmExports).toEqual(expect.arrayContaining(['Realtime', 'RealtimeClient', 'HubbubError']));
      expect(esmExports).not.toContain('WebhookReceiver');
    });
  });
});

/** Two clients on one channel: one from the ESM bundle publishes, both it and one from window.Hubbub receive. */
const PAGE = `<!doctype html>
<title>@hubbub/client from its bundles</title>
<script src="/sdk/hubbub.iife.js"></script>
<script type="module">
  import * as esm from '/sdk/hubbub.js';
  const params = new URLSearchParams(location.search);
  const options = { endpoint: params.get('endpoint'), token: params.get('token') };
  const received = (realtime) => {
    const channel = realtime.channels.get('chat:page');
    const message = new Promise((resolve) => channel.on('text', (m) => resolve(m.clientId + ': ' + m.data)));
    return channel.attach().then(() => ({ channel, message }));
  };
  const fromEsm = await received(new esm.Realtime(options));
  const fromIife = await received(new window.Hubbub.Realtime(options));
  await fromEsm.channel.publish('text', 'hello from the ESM bundle');
  window.result = {
    esmReceived: await fromEsm.message,
    iifeReceived: await fromIife.message,
    esmExports: Object.keys(esm).sort(),
    iifeExports: Object.keys(window.Hubbub).sort(),
  };
</script>`;

describe('the browser bundle', () => {
  it('stays within its gzip size budget', async () => {
    const ran = await run(process.execPath, [join(REPO, 'scripts/bundle-size.mjs')], REPO, process.env);
    process.stdout.write(ran.stdout);
    expectSuccess(ran, 'scripts/bundle-size.mjs');
    expect(ran.stdout).toContain('Realtime alone');
  });
});

describe('publint', () => {
  it.each(PACKAGES)('finds nothing to fix in %s', async (pkg) => {
    const ran = await run(process.execPath, [join(REPO, 'node_modules/publint/src/cli.js'), '--strict', pkg], REPO, process.env);
    expectSuccess(ran, `publint ${pkg}`);
    expect(ran.stdout).toContain('All good');
  });
});
