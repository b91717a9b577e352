import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Start a program and wait for the line that says where it listens. */
export async function startProgram(
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<{ proc: ChildProcess; match: RegExpExecArray; output: string[] }> {
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      output.push(line);
      const m = ready.exec(line);
      if (m) resolve(m);
    });
    proc.stderr!.on('data', (d) => output.push(String(d)));
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}:\n${output.join('\n')}`)));
  });
  return { proc, match, output };
}
