import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const CLI = fileURLToPath(new URL('../../packages/server/dist/cli/main.js', import.meta.url));
export const SIGNING_KEY = 'test-signing-key-0123456789abcdef';

export interface RunningServer {
  port: number;
  url: string;
  http: string;
  dataDir: string;
  proc: ChildProcess;
  /** Every log line the server printed (JSON from pino). */
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Start the real `hubbub serve` on a free port (or the given one) and wait until it listens. */
export async function startServer(args: string[] = [], opts: { port?: number; dataDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunningServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-test-'));
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', String(opts.port ?? 0), '--host', '127.0.0.1', '--data-dir', dataDir, ...args], {
    env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    lines.on('line', (line) => {
      logs.push(line);
      const m = /listening on http:\/\/localhost:(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    proc.stderr!.on('data', (d) => logs.push(String(d)));
    proc.once('exit', (code) => reject(new Error(`hubbub serve exited with ${code}: ${logs.join('\n')}`)));
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await exited;
  };
  return { port, url: `ws://127.0.0.1:${port}`, http: `http://127.0.0.1:${port}`, dataDir, proc, logs, stop };
}

export function cleanup(server: RunningServer | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  return server.stop('SIGKILL').then(() => rmSync(server.dataDir, { recursive: true, force: true }));
}

/** Run the CLI to completion and return what it printed. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY, ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function devtoken(app: string, client: string, extra: string[] = []): Promise<string> {
  const { code, stdout, stderr } = await runCli(['devtoken', '--app', app, '--client', client, ...extra]);
  if (code !== 0) throw new Error(`devtoken failed: ${stderr}`);
  return stdout.trim();
}
