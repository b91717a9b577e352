// Runs a private `hubbub serve` for the example: in-memory engine, a temp data dir, an API key made
// there with `hubbub keys create --app chat`. Removed again when the example stops.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const CLI = join(dirname(createRequire(import.meta.url).resolve('@hubbub/server/package.json')), 'dist', 'cli', 'main.js');
/** pino's numeric levels: warnings and errors of the child are passed on, the rest stays quiet. */
const WARN = 40;

/**
 * Start `hubbub serve` on `port` (0: a free one) and `host`. Resolves once it listens, with its
 * address, the API key and `stop()`.
 */
export async function startHubbub({ port, host, app }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-chat-'));
  // A signing key for this run only: tokens die with the temp dir, and serve has no dev key to warn about.
  const env = { ...process.env, JWT_SIGNING_KEY: process.env.JWT_SIGNING_KEY || randomBytes(32).toString('hex') };
  const removeDataDir = () => rmSync(dataDir, { recursive: true, force: true });
  let apiKey;
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'keys', 'create', '--app', app, '--data-dir', dataDir], { env });
    apiKey = stdout.trim();
  } catch (err) {
    removeDataDir();
    throw new Error(`hubbub keys create failed: ${err.stderr || err.message}`);
  }

  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', host, '--data-dir', dataDir], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const listening = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /listening on http:\/\/localhost:(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
      else passOn(line);
    });
    child.once('exit', (code) => reject(new Error(`hubbub serve exited with ${code} before listening`)));
  }).catch((err) => {
    removeDataDir();
    throw err;
  });

  const exited = new Promise((resolve) => child.once('exit', resolve));
  exited.then(removeDataDir);
  // However this process ends, serve ends with it: no orphan holding the port.
  process.once('exit', () => {
    child.kill('SIGTERM');
    removeDataDir();
  });
  return {
    pid: child.pid,
    port: listening,
    url: `http://127.0.0.1:${listening}`,
    apiKey,
    /** Resolves with the exit code when serve stops, for whatever reason. */
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function passOn(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return void process.stdout.write(`hubbub: ${line}\n`);
  }
  if (entry.level >= WARN) process.stderr.write(`hubbub: ${entry.msg}\n`);
}
