/**
 * `npm run chaos -- --seconds N --seed S [--nodes 3] [--publishers 8] [--subscribers 16] [--sse 3]
 *   [--binary 2] [--longpoll 2] [--foony-publishers 1] [--rest 1] [--faults KIND,…] [--keep]`:
 * one chaos run from the command line (scripts/chaos.mjs bundles and starts this). Prints the seed
 * first, the report last; exits 1 when the checker found anomalies.
 */
import { FAULT_KINDS, type FaultKind } from './faults.js';
import { runChaos } from './harness.js';
import { freshSeed } from './random.js';

function flag(args: string[], name: string): number | undefined {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return undefined;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} needs a whole number, got ${args[at + 1]}`);
  return value;
}

/** `--faults kill-node,pause-node`: only these kinds (default: every kind). */
function kinds(args: string[]): FaultKind[] | undefined {
  const at = args.indexOf('--faults');
  if (at < 0) return undefined;
  const wanted = (args[at + 1] ?? '').split(',');
  const unknown = wanted.filter((k) => !FAULT_KINDS.includes(k as FaultKind));
  if (unknown.length) throw new Error(`--faults: unknown kinds ${unknown.join(', ')} (known: ${FAULT_KINDS.join(', ')})`);
  return wanted as FaultKind[];
}

export async function main(args: string[]): Promise<number> {
  const seed = flag(args, 'seed') ?? freshSeed();
  const write = (line: string) => void process.stdout.write(`${line}\n`);
  const result = await runChaos({
    seed,
    seconds: flag(args, 'seconds') ?? 60,
    nodes: flag(args, 'nodes'),
    publishers: flag(args, 'publishers'),
    subscribers: flag(args, 'subscribers'),
    sseReaders: flag(args, 'sse'),
    binarySubscribers: flag(args, 'binary'),
    longPollSubscribers: flag(args, 'longpoll'),
    foonyPublishers: flag(args, 'foony-publishers'),
    restPublishers: flag(args, 'rest'),
    kinds: kinds(args),
    keep: args.includes('--keep'),
    log: write,
  });
  write(result.report);
  return result.summary.anomalies.length ? 1 : 0;
}
