/**
 * docs/realtime.md's sample, saved in the clone and run with node against a real `hubbub serve`.
 * Substituted: `localhost:3000` → the test server's port; `HUBBUB_KEY` is a key the test made with
 * `hubbub keys create --app demo`.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { runnableBlock } from './support/markdown.js';
import { expectSampleRuns } from './support/samples.js';
import { expectSuccess } from './support/shell.js';

describe('docs/realtime.md', () => {
  let server: RunningServer;
  let key: string;

  beforeAll(async () => {
    server = await startServer();
    const created = await runCli(['keys', 'create', '--app', 'demo', '--data-dir', server.dataDir]);
    expectSuccess(created, 'keys create');
    key = created.stdout.trim();
  });
  afterAll(() => cleanup(server));

  it('runs the sample and it prints what it says', async () => {
    await expectSampleRuns(runnableBlock('realtime-sample'), server.port, { HUBBUB_KEY: key });
  });
});
