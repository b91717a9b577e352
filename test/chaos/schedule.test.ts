/** The fault plan is a function of the seed: the same seed replays the same faults, another seed others. */
import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, finalFault, schedule } from './faults.js';
import { Random } from './random.js';

const OPTIONS = { seconds: 120, nodes: 3, heartbeatMs: 2000, nodeTtlMs: 3000 };

function plan(seed: number) {
  const rng = new Random(seed);
  return { faults: schedule(rng, OPTIONS), last: finalFault(rng, OPTIONS) };
}

describe('chaos schedule', () => {
  it('same seed, same plan; another seed, another plan', () => {
    expect(plan(42)).toEqual(plan(42));
    expect(plan(43)).not.toEqual(plan(42));
  });

  it('fills the time with every kind, pauses longer than two heartbeats, moves to another node', () => {
    const faults = [1, 2, 3, 4, 5].flatMap((seed) => plan(seed).faults);
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    for (const f of faults) {
      expect(f.node).toBeGreaterThanOrEqual(0);
      expect(f.node).toBeLessThan(OPTIONS.nodes);
      if (f.kind === 'pause-node') expect(f.holdMs).toBeGreaterThan(2 * OPTIONS.heartbeatMs);
      if (f.kind === 'move-clients') expect(f.to).not.toBe(f.node);
    }
    const planned = plan(7).faults.reduce((sum, f) => sum + f.gapMs + f.holdMs, 0);
    expect(planned).toBeGreaterThanOrEqual(OPTIONS.seconds * 1000);
  });

  it('ends with a fault presence has to converge from', () => {
    for (let seed = 0; seed < 20; seed++) expect(['kill-node', 'pause-node', 'partition-redis']).toContain(plan(seed).last.kind);
  });
});
