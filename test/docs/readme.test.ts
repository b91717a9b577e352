/**
 * README.md's step 5 (an API key, a token from `POST /auth/token`, the Node sample run in the clone)
 * and "Use the SDK from your own project" (pack, install in a project outside the repo), run as
 * written against a real `hubbub serve` (the tour's steps 1-4 are test/e2e/tour.test.ts).
 *
 * Substituted: `localhost:3000` → the test server's port; HUBBUB_DATA_DIR → the test server's data
 * dir, so `keys create` writes where that server reads; `/tmp/hubbub-packs` → a fresh temp dir, and
 * the project is a fresh `npm init -y` one; `npm install` gets `--prefer-offline --no-audit --no-fund`
 * (the cache, not what is installed). test/e2e/packaging.test.ts runs the same Node sample from the
 * packed packages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, startServer, type RunningServer } from '../support/server.js';
import { runnableBlock, shellCommands } from './support/markdown.js';
import { atPort, expectSampleRuns } from './support/samples.js';
import { expectSuccess, runShell, userEnv } from './support/shell.js';

const INSTALL_TIMEOUT_MS = 5 * 60_000;

describe('README step 5: the same in code', () => {
  let server: RunningServer;
  let key: string;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => cleanup(server));

  it('makes an API key with the command as written', async () => {
    const block = runnableBlock('tour-api-key');
    expect(shellCommands(block)).toHaveLength(1);
    // The block exports HUBBUB_KEY into the shell; the test reads it back from that same shell.
    const ran = await runShell(`${block.text}\nprintf %s "$HUBBUB_KEY"`, { env: userEnv({ HUBBUB_DATA_DIR: server.dataDir }) });
    expectSuccess(ran, block.text);
    key = ran.stdout;
    expect(key).toMatch(/^demo\.[\w-]+:[\w-]+$/);
  });

  it('trades the key for a token with curl', async () => {
    const block = runnableBlock('tour-auth-token');
    const ran = await runShell(atPort(block.text, server.port), { env: userEnv({ HUBBUB_KEY: key }) });
    expectSuccess(ran, block.text);
    const answer = JSON.parse(ran.stdout) as { token: string; expiresAt: number; clientId: string };
    expect(answer.clientId).toBe('alice');
    expect(answer.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(answer.expiresAt - Date.now()).toBeGreaterThan(59 * 60_000);
  });

  it('runs the Node sample saved in the clone', async () => {
    await expectSampleRuns(runnableBlock('sdk-node'), server.port, { HUBBUB_KEY: key });
  });
});

describe('README: use the SDK from your own project', () => {
  let packs: string;
  let project: string;

  beforeAll(() => {
    packs = mkdtempSync(join(tmpdir(), 'hubbub-packs-'));
    project = mkdtempSync(join(tmpdir(), 'hubbub-own-project-'));
  });
  afterAll(() => {
    for (const dir of [packs, project]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    'packs the packages and installs the tarballs the README names',
    async () => {
      const [pack] = shellCommands(runnableBlock('sdk-pack'));
      const packed = await runShell(pack.replaceAll('/tmp/hubbub-packs', packs));
      expectSuccess(packed, pack);
      expect(readdirSync(packs).sort()).toEqual(['hubbub-client-0.1.0.tgz', 'hubbub-protocol-0.1.0.tgz']);

      expectSuccess(await runShell('npm init -y', { cwd: project }), 'npm init -y');
      const [install] = shellCommands(runnableBlock('sdk-install'));
      const command = `${install.replaceAll('/tmp/hubbub-packs', packs)} --prefer-offline --no-audit --no-fund`;
      const installed = await runShell(command, { cwd: project, timeoutMs: INSTALL_TIMEOUT_MS });
      expectSuccess(installed, command);

      const names = await runShell(`node --input-type=module -e "import * as sdk from '@hubbub/client'; console.log(Object.keys(sdk).join(' '))"`, { cwd: project });
      expectSuccess(names, 'import @hubbub/client');
      expect(names.stdout.split(/\s+/)).toEqual(expect.arrayContaining(['Realtime', 'RealtimeClient', 'WebhookReceiver', 'verifyWebhook']));
    },
    INSTALL_TIMEOUT_MS + 60_000,
  );
});
