/**
 * docs/platform.md's blocks, run as written: the config examples through `hubbub config check`, the
 * secret generator, and the database change feed end to end (the table, `hubbub serve` with the
 * command as written, the `RealtimeClient` sample receiving a row of one campus and not another).
 *
 * Substituted: `postgres://hubbub@localhost/hubbub` → a fresh test database; the server gets
 * PORT=<a free port> and HUBBUB_DATA_DIR=<a temp dir> (the devtoken for the sample is minted with the
 * same data dir, as in the page); `localhost:3000` in the sample → that port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDatabase } from '../support/postgres.js';
import { freePort } from '../support/redis.js';
import { runCli } from '../support/server.js';
import { until } from '../support/wait.js';
import { runnableBlock, shellCommands } from './support/markdown.js';
import { promisedLines, runJs } from './support/samples.js';
import { Terminal, expectSuccess, runShell, userEnv, type Ran } from './support/shell.js';

const DOC_DATABASE = 'postgres://hubbub@localhost/hubbub';

describe('docs/platform.md config and secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-platform-doc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const configCheck = async (text: string) => {
    const file = join(dir, 'hubbub.config.json');
    writeFileSync(file, text);
    return runCli(['config', 'check', file]);
  };

  it('has a change-feed config example that `hubbub config check` accepts', async () => {
    expectSuccess(await configCheck(runnableBlock('change-feed-config').text), 'config check');
  });

  it('has a webhooks config example that `hubbub config check` accepts', async () => {
    expectSuccess(await configCheck(runnableBlock('webhooks-config').text), 'config check');
  });

  it('makes webhook secrets that a config accepts', async () => {
    const [command] = shellCommands(runnableBlock('webhook-secret'));
    const ran = await runShell(command);
    expectSuccess(ran, command);
    const secret = ran.stdout.trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expectSuccess(await configCheck(JSON.stringify({ webhooks: [{ app: 'foony', url: 'https://example.com/hooks', secret }] })), 'config check with the made secret');
  });
});

const db = await TestDatabase.create();

describe.runIf(db)('docs/platform.md database change events (real PostgreSQL)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-change-feed-doc-'));
  let server: Terminal | undefined;
  let port: number;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    port = await freePort();
    env = userEnv({ PORT: String(port), HUBBUB_DATA_DIR: dataDir });
  });
  afterAll(async () => {
    server?.kill();
    await db!.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates the table, serves its changes, and the RealtimeClient sample gets the campus it filters on', async () => {
    await db!.query(runnableBlock('change-feed-table').text);

    const [serve] = shellCommands(runnableBlock('change-feed-serve'));
    expect(serve).toContain(DOC_DATABASE);
    server = new Terminal('server', serve.replace(DOC_DATABASE, db!.url), env);
    await server.waitFor((line) => line.includes(`hubbub listening on http://localhost:${port}`));

    const token = await runShell('npx --no-install hubbub devtoken --app foony --client dashboard', { env });
    expectSuccess(token, 'devtoken');

    const sample = runnableBlock('realtime-client-sample');
    let ran: Ran | undefined;
    const running = runJs(sample, port, { HUBBUB_TOKEN: token.stdout.trim() }).then((r) => (ran = r));
    // The sample exits on its first event. Until it has subscribed, changes pass unseen: insert a row
    // of another campus and one of campus 12 until one reaches it.
    await until(async () => {
      await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('open', 7)");
      await db!.query("INSERT INTO sessions (status, campus_id) VALUES ('open', 12)");
      await new Promise((resolve) => setTimeout(resolve, 100));
      return ran !== undefined;
    }, 'the sample to get an event', 20_000);
    await running;
    const where = `--- stdout\n${ran!.stdout}\n--- stderr\n${ran!.stderr}`;
    expect(ran!.code, where).toBe(0);
    const lines = ran!.stdout.split('\n').map((line) => line.trim());
    for (const text of promisedLines(sample.text)) expect(lines, where).toContain(text);
    expect(lines.filter((line) => line.startsWith('database.')), where).toEqual(['database.insert open 12']);
  }, 60_000);
});
