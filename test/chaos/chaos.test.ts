/**
 * A chaos run inside the test suite: 3 `hubbub serve --redis` nodes, one Redis, 36 clients (Hubbub SDK
 * publishers, subscribers and presence watchers, SSE readers; Foony SDK subscribers on binary WebSocket
 * connections and long-polling, a Foony publisher, a REST publisher) and about 75 s of seeded random
 * faults, some overlapping (test/chaos/faults.ts), then the checker over the whole history
 * (test/chaos/checker.ts). The seed is printed; a failing run prints its anomalies with the events
 * around them and where its history and node logs were written.
 * Reproduce with CHAOS_SEED=N (or `npm run chaos -- --seconds 75 --seed N`).
 */
import { expect, it } from 'vitest';
import { redisAvailable } from '../support/redis.js';
import { runChaos } from './harness.js';
import { freshSeed } from './random.js';

const SECONDS = Number(process.env.CHAOS_SECONDS ?? 75);
/** Passed on the final code of its session (12 faults, discontinuities on the short-history channel). */
const CI_SEED = 484383269;

it.runIf(redisAvailable())(
  'under random faults: per-channel order, no duplicates, nothing acknowledged lost, presence converges',
  async () => {
    // CI runs a seed whose schedule passed (so a new finding does not cost a landing: `npm run chaos`
    // explores fresh seeds); locally each run draws a fresh one.
    const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : process.env.CI ? CI_SEED : freshSeed();
    // Printed before the run, so even a run that hangs leaves its seed behind.
    process.stdout.write(`chaos seed ${seed}\n`);
    const result = await runChaos({ seed, seconds: SECONDS, log: (line) => void process.stdout.write(`${line}\n`) });
    process.stdout.write(`${result.report}\n`);
    expect(result.applied, 'faults applied').toBeGreaterThan(5);
    expect(result.summary.owed, 'owed deliveries checked').toBeGreaterThan(1000);
    expect(result.summary.anomalies.map((a) => `${a.kind}: ${a.message}`), `anomalies (seed ${seed})`).toEqual([]);
  },
  SECONDS * 1000 + 150_000,
);
