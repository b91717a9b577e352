/**
 * docs/server.md's blocks, run against a real `hubbub serve`: the config file example through
 * `hubbub config check`, the capability example as the capability of a real token, and the curl
 * calls of the HTTP API section. Substituted: `localhost:3000` → the test server's port;
 * `$HUBBUB_KEY` is a key the test made with `hubbub keys create --app demo`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { runnableBlock, shellCommands } from './support/markdown.js';
import { atPort } from './support/samples.js';
import { expectSuccess, runShell, userEnv } from './support/shell.js';

describe('docs/server.md', () => {
  let server: RunningServer;
  let key: string;
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-server-doc-'));

  beforeAll(async () => {
    server = await startServer();
    const created = await runCli(['keys', 'create', '--app', 'demo', '--data-dir', server.dataDir]);
    expectSuccess(created, 'keys create');
    key = created.stdout.trim();
  });
  afterAll(async () => {
    await cleanup(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('has a config example that `hubbub config check` accepts, and a check that names a bad key', async () => {
    const file = join(dir, 'hubbub.config.json');
    writeFileSync(file, runnableBlock('config-example').text);
    const ok = await runCli(['config', 'check', file]);
    expectSuccess(ok, 'config check');
    expect(ok.stdout.trim()).toBe(`${file}: ok`);

    // The problem the page quotes, word for word.
    writeFileSync(file, JSON.stringify({ ...JSON.parse(runnableBlock('config-example').text), port: 'x' }));
    const bad = await runCli(['config', 'check', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${file}: "port" must be a number, got "x"`);
  });

  it('has a capability example that a token can carry and the server enforces', async () => {
    const capability = JSON.parse(runnableBlock('capability-example').text);
    const res = await fetch(`${server.http}/auth/token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'reader', capability }),
    });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const publish = (channel: string) =>
      fetch(`${server.http}/channels/${encodeURIComponent(channel)}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'text', data: 'hi' }),
      });
    expect((await publish('chat:capability-check')).ok).toBe(true);
    const refused = await publish('news');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: number } }).error.code).toBe(40301);
  });

  it('runs the curl calls of the HTTP API section', async () => {
    const commands = shellCommands(runnableBlock('rest-calls'));
    expect(commands).toHaveLength(3);
    const env = userEnv({ HUBBUB_KEY: key });
    const answers: unknown[] = [];
    for (const command of commands) {
      const ran = await runShell(atPort(command, server.port), { env });
      expectSuccess(ran, command);
      answers.push(JSON.parse(ran.stdout));
    }
    expect(answers[0]).toEqual({ channel: 'chat:room-1', messageId: 'rest-1', serial: 1, seq: 1, duplicate: false });
    expect(answers[1]).toEqual([expect.objectContaining({ id: 'rest-1', name: 'text', data: 'hello from REST', serial: 1 })]);
    expect(answers[2]).toEqual([]);

    // Sent again: the same serial, and a duplicate.
    const again = await runShell(atPort(commands[0], server.port), { env });
    expect(JSON.parse(again.stdout)).toEqual({ channel: 'chat:room-1', messageId: 'rest-1', serial: 1, seq: 1, duplicate: true });
  });
});
