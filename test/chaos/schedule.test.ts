/** The fault plan is a function of the seed: the same seed replays the same faults, another seed others. */
import { describe, expect, it } from 'vitest';
import { FAULT_KINDS, finalFault, schedule, spanOf, type Fault } from './faults.js';
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
    const planned = plan(7).faults.reduce((sum, f) => sum + f.gapMs + spanOf(f), 0);
    expect(planned).toBeGreaterThanOrEqual(OPTIONS.seconds * 1000);
  });

  it('ends with a fault presence has to converge from', () => {
    for (let seed = 0; seed < 20; seed++) expect(['kill-node', 'pause-node', 'partition-redis']).toContain(plan(seed).last.kind);
  });

  it('overlaps some faults, each pair on two nodes, a majority of the nodes never down', () => {
    const faults = [1, 2, 3, 4, 5].flatMap((seed) => plan(seed).faults);
    const pairs = faults.filter((f): f is Fault & { overlap: NonNullable<Fault['overlap']> } => f.overlap !== undefined);
    // Some, not all: about one in three brings a second fault along.
    expect(pairs.length).toBeGreaterThan(faults.length / 6);
    expect(pairs.length).toBeLessThan(faults.length / 2);
    const down = (f: Fault) => f.kind === 'kill-node' || f.kind === 'pause-node';
    for (const { overlap, ...first } of pairs) {
      const second = overlap.fault;
      expect(second.overlap).toBeUndefined();
      expect(second.node).not.toBe(first.node);
      if (first.to !== undefined) expect(second.node).not.toBe(first.to);
      if (second.to !== undefined) expect([first.node, first.to, second.node]).not.toContain(second.to);
      expect(Number(down(first)) + Number(down(second)), 'nodes down at once').toBeLessThanOrEqual(Math.floor((OPTIONS.nodes - 1) / 2));
      expect(first.kind === 'restart-redis' && second.kind === 'restart-redis').toBe(false);
      // The second begins while the first is still held (or right as a drop happens).
      expect(overlap.afterMs).toBeLessThanOrEqual(Math.max(0, first.holdMs - 200));
      if (second.kind === 'pause-node') expect(second.holdMs).toBeGreaterThan(2 * OPTIONS.heartbeatMs);
    }
    // Among them, a node down while another is cut from Redis, as the issue asks.
    expect(pairs.some((f) => (down(f) && f.overlap.fault.kind === 'partition-redis') || (f.kind === 'partition-redis' && down(f.overlap.fault)))).toBe(true);
  });

  it('overlaps are drawn from the seed too, and a cluster of one node gets none', () => {
    expect(plan(11).faults.map((f) => f.overlap)).toEqual(plan(11).faults.map((f) => f.overlap));
    const single = schedule(new Random(5), { ...OPTIONS, nodes: 1 });
    expect(single.filter((f) => f.overlap)).toEqual([]);
  });
});
