/**
 * Running the docs' commands as a user would type them: `bash -c` in the clone, in the environment
 * of a user's shell, and terminals whose output is read line by line and whose stdin is typed into.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { REPO } from './markdown.js';
import { runToEnd, type Ran } from '../../support/commands.js';

export { userEnv, type Ran } from '../../support/commands.js';

/** Run one command line (or a whole script) with bash, to its end. */
export function runShell(script: string, options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return runToEnd('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: options.cwd ?? REPO, env: options.env, timeoutMs: options.timeoutMs });
}

/** Fails with everything the command printed, so a CI log shows why. */
export function expectSuccess(ran: Ran, what: string): void {
  if (ran.code !== 0) throw new Error(`${what} exited with ${ran.code}\n--- stdout\n${ran.stdout}\n--- stderr\n${ran.stderr}`);
}

/** A terminal running one command: what it printed, line by line, and a keyboard. */
export class Terminal {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    command: string,
    env: NodeJS.ProcessEnv,
  ) {
    // Its own process group, so that cleanup ends bash and what it started together.
    this.proc = spawn('bash', ['-c', command], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      this.lines.push(line);
      for (const wake of this.waiters) wake();
    });
    this.proc.stderr!.on('data', (d) => this.stderr.push(String(d)));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
    this.proc.once('exit', () => {
      for (const wake of this.waiters) wake();
    });
  }

  /** Type a line and press Enter. */
  type(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  /** Ctrl-D: end of input. */
  endInput(): void {
    this.proc.stdin!.end();
  }

  /** Wait until a line from index `from` on satisfies `match`; returns its index. */
  async waitFor(match: string | ((line: string) => boolean), from = 0, timeoutMs = 20_000): Promise<number> {
    const test = typeof match === 'string' ? (line: string) => line === match : match;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.findIndex((line, i) => i >= from && test(line));
      if (found >= 0) return found;
      if (this.proc.exitCode !== null || Date.now() > deadline) {
        const why = this.proc.exitCode !== null ? `it exited with ${this.proc.exitCode}` : 'timed out';
        throw new Error(`${this.name}: no line ${typeof match === 'string' ? JSON.stringify(match) : 'matching'} (${why}). It printed:\n${this.transcript()}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(0, deadline - Date.now()) + 1);
        this.waiters.add(wake);
      });
    }
  }

  transcript(): string {
    return [...this.lines, ...(this.stderr.length ? ['--- stderr', this.stderr.join('')] : [])].join('\n');
  }

  /** Ctrl-C: SIGINT to the terminal's foreground process group. */
  interrupt(): void {
    if (this.proc.pid !== undefined) process.kill(-this.proc.pid, 'SIGINT');
  }

  kill(): void {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
