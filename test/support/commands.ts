/**
 * Running commands as a user's shell would: to their end, with their output, in the environment of a
 * user's shell rather than the test runner's.
 */
import { spawn } from 'node:child_process';
import { delimiter } from 'node:path';

/**
 * The environment of a user's shell: without what `npm test` and vitest add (npm_config_* would point a
 * nested npm at this run; node_modules/.bin on PATH would hide whether `npx` finds `hubbub` by itself),
 * without the test's JWT_SIGNING_KEY and Hubbub settings (the docs' commands run without them), plus `extra`.
 */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(npm_|vitest|hubbub_|jwt_signing_key$)|^(init_cwd|node_env|node_options|port|host)$/i.test(name)) continue;
    env[name] = value;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !dir.includes('node_modules'))
    .join(delimiter);
  return { ...env, ...extra };
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `command` to its end; a signal counts as exit code 128. */
export function runToEnd(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { cwd: options.cwd, env: options.env ?? userEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.once('error', reject);
    proc.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
}
