/**
 * `hubbub keys create --format pusher` through the built CLI, as a user runs it: the three lines a
 * Pusher or Laravel app reads from its environment, for the same key `--format hubbub` prints whole.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/server.js';
import { runToEnd, userEnv } from '../support/commands.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-keys-'));
  dirs.push(dir);
  return dir;
}

const PUSHER_LINES = /^PUSHER_APP_ID=demo\nPUSHER_APP_KEY=([A-Za-z0-9]+)\nPUSHER_APP_SECRET=([A-Za-z0-9_-]+)\n$/;

describe('hubbub keys create --format pusher', () => {
  it('prints app id, key and secret as env lines, for a key keys list knows', async () => {
    const dir = dataDir();
    const made = await runCli(['keys', 'create', '--app', 'demo', '--format', 'pusher', '--data-dir', dir]);
    expect(made).toMatchObject({ code: 0, stderr: '' });
    const [, keyId, secret] = PUSHER_LINES.exec(made.stdout) ?? [];
    expect(keyId, made.stdout).toBeDefined();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect((await runCli(['keys', 'list', '--data-dir', dir])).stdout).toContain(`demo.${keyId}\tcreated`);

    // A shell (or dotenv, or Laravel's .env) reads the lines as they are: no quoting needed.
    const envFile = join(dir, '.env');
    writeFileSync(envFile, made.stdout);
    const sourced = await runToEnd('sh', ['-c', `. "${envFile}" && printf '%s %s %s' "$PUSHER_APP_ID" "$PUSHER_APP_KEY" "$PUSHER_APP_SECRET"`], { cwd: dir, env: userEnv() });
    expect(sourced.stdout).toBe(`demo ${keyId} ${secret}`);
  });

  it('the default stays APP.KEYID:SECRET; HUBBUB_KEY_FORMAT is the flag\'s env twin', async () => {
    const dir = dataDir();
    const plain = await runCli(['keys', 'create', '--app', 'demo', '--data-dir', dir]);
    expect(plain.stdout).toMatch(/^demo\.[A-Za-z0-9]+:[A-Za-z0-9_-]+\n$/);
    const viaEnv = await runCli(['keys', 'create', '--app', 'demo', '--data-dir', dir], { HUBBUB_KEY_FORMAT: 'pusher' });
    expect(viaEnv.stdout).toMatch(PUSHER_LINES);
    const explicit = await runCli(['keys', 'create', '--app', 'demo', '--format', 'hubbub', '--data-dir', dir], { HUBBUB_KEY_FORMAT: 'pusher' });
    expect(explicit.stdout).toMatch(/^demo\.[A-Za-z0-9]+:[A-Za-z0-9_-]+\n$/);
  });

  it('refuses an unknown format, and --help documents the flag', async () => {
    const bad = await runCli(['keys', 'create', '--app', 'demo', '--format', 'soketi', '--data-dir', dataDir()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--format');
    expect(bad.stderr).toContain('pusher');
    const help = await runCli(['keys', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--format pusher');
    expect(help.stdout).toContain('HUBBUB_KEY_FORMAT');
    expect(help.stdout).toContain('PUSHER_APP_ID');
  });
});
