import { describe, expect, it } from 'vitest';
import { RequestQueue } from '../src/core/request-queue.js';

/** A wire that records when it was told to stop and go on reading. */
function recordingWire() {
  const calls: string[] = [];
  return { calls, pause: () => calls.push('pause'), resume: () => calls.push('resume') };
}

/** A task that finishes when the test says so. */
function gate() {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { task: () => done, open };
}

/** Let every settled task's continuation run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('RequestQueue backpressure', () => {
  it('pauses once past the frame bound, once, and resumes only at a quarter of it', async () => {
    const wire = recordingWire();
    const queue = new RequestQueue(wire, { inputBacklogFrames: 8, inputBacklogBytes: 1 << 20 });
    const gates = Array.from({ length: 12 }, gate);
    for (const g of gates.slice(0, 8)) queue.push(g.task, 10, () => {});
    expect(wire.calls, 'at the bound, still reading').toEqual([]);
    queue.push(gates[8]!.task, 10, () => {});
    expect(wire.calls).toEqual(['pause']);
    expect(queue.paused).toBe(true);
    // What the transport had already read still arrives: counted, no second pause.
    for (const g of gates.slice(9)) queue.push(g.task, 10, () => {});
    expect(wire.calls).toEqual(['pause']);

    // 12 queued: handled one by one, still paused down to 3 left (above 8 / 4 = 2)...
    for (const g of gates.slice(0, 9)) {
      g.open();
      await settle();
    }
    expect(queue.backlog).toBe(3);
    expect(wire.calls, 'between the marks, still paused').toEqual(['pause']);
    // ...and reading again at 2.
    gates[9]!.open();
    await settle();
    expect(queue.backlog).toBe(2);
    expect(wire.calls).toEqual(['pause', 'resume']);
    expect(queue.paused).toBe(false);

    for (const g of gates.slice(10)) g.open();
    await settle();
    expect(queue.backlog).toBe(0);
    expect(wire.calls, 'no flapping on the way down').toEqual(['pause', 'resume']);
  });

  it('pauses on bytes too, and resumes only once both are down to a quarter', async () => {
    const wire = recordingWire();
    const queue = new RequestQueue(wire, { inputBacklogFrames: 100, inputBacklogBytes: 1000 });
    const big = gate();
    const small = Array.from({ length: 4 }, gate);
    queue.push(big.task, 900, () => {});
    expect(wire.calls).toEqual([]);
    for (const g of small) queue.push(g.task, 50, () => {});
    expect(wire.calls, '1100 bytes waiting').toEqual(['pause']);
    big.open();
    await settle();
    // 200 bytes left: under a quarter of the bytes (250), and 4 frames, under a quarter of the frames.
    expect(wire.calls).toEqual(['pause', 'resume']);
    for (const g of small) g.open();
    await settle();
  });

  it('keeps arrival order, answers a failure through its handler, and counts a failed request as handled', async () => {
    const wire = recordingWire();
    const queue = new RequestQueue(wire, { inputBacklogFrames: 1, inputBacklogBytes: 1 << 20 });
    const ran: string[] = [];
    const failures: unknown[] = [];
    const slow = gate();
    queue.push(async () => {
      await slow.task();
      ran.push('a');
    }, 1, () => {});
    queue.push(() => {
      ran.push('b');
      throw new Error('b failed');
    }, 1, (err) => failures.push(err));
    queue.then(() => ran.push('server work'));
    queue.push(() => void ran.push('c'), 1, () => {});
    expect(wire.calls).toEqual(['pause']);
    slow.open();
    await settle();
    expect(ran).toEqual(['a', 'b', 'server work', 'c']);
    expect(failures).toHaveLength(1);
    expect(queue.backlog).toBe(0);
    expect(wire.calls).toEqual(['pause', 'resume']);
  });

  it('works with a wire that cannot pause', async () => {
    const queue = new RequestQueue({}, { inputBacklogFrames: 1, inputBacklogBytes: 1 });
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) queue.push(() => void ran.push(i), 10, () => {});
    expect(queue.paused).toBe(true);
    await settle();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(queue.paused).toBe(false);
  });
});
