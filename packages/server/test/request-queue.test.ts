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
    const queue = new RequestQueue(wire, { inputBacklogFrames: 8, inputBacklogBytes: 1 << 20, publishesInFlight: 1000 });
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
    const queue = new RequestQueue(wire, { inputBacklogFrames: 100, inputBacklogBytes: 1000, publishesInFlight: 1000 });
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
    const queue = new RequestQueue(wire, { inputBacklogFrames: 1, inputBacklogBytes: 1 << 20, publishesInFlight: 1000 });
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
    const queue = new RequestQueue({}, { inputBacklogFrames: 1, inputBacklogBytes: 1, publishesInFlight: 1000 });
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) queue.push(() => void ran.push(i), 10, () => {});
    expect(queue.paused).toBe(true);
    await settle();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(queue.paused).toBe(false);
  });
});

describe('RequestQueue pipelined requests (publishes)', () => {
  /** A pipelined request: `begun` once it started, answered (its reply run) in `log` when the test settles it. */
  function pipelined(name: string, log: string[]) {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const result = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    const r = {
      begun: false,
      begin: () => {
        r.begun = true;
        log.push(`begin ${name}`);
        return result.then(() => () => void log.push(`reply ${name}`));
      },
      resolve: () => resolve(),
      reject: (err: Error) => reject(err),
    };
    return r;
  }

  it('begin one after another without waiting for the answers, and reply in arrival order whatever order they settle in', async () => {
    const log: string[] = [];
    const queue = new RequestQueue({}, { inputBacklogFrames: 100, inputBacklogBytes: 1 << 20, publishesInFlight: 1000 });
    const [a, b, c] = ['a', 'b', 'c'].map((n) => pipelined(n, log));
    for (const r of [a, b, c]) queue.pushPipelined(r.begin, 1, () => log.push('failed'));
    await settle();
    expect(log).toEqual(['begin a', 'begin b', 'begin c']);
    c.resolve();
    b.resolve();
    await settle();
    expect(log, 'b and c wait for a').toEqual(['begin a', 'begin b', 'begin c']);
    expect(queue.backlog).toBe(3);
    a.resolve();
    await settle();
    expect(log).toEqual(['begin a', 'begin b', 'begin c', 'reply a', 'reply b', 'reply c']);
    expect(queue.backlog).toBe(0);
  });

  it('a request that is not pipelined runs once every earlier one has replied, and holds back the pipelined ones after it', async () => {
    const log: string[] = [];
    const queue = new RequestQueue({}, { inputBacklogFrames: 100, inputBacklogBytes: 1 << 20, publishesInFlight: 1000 });
    const a = pipelined('a', log);
    const b = pipelined('b', log);
    const slow = gate();
    queue.pushPipelined(a.begin, 1, () => {});
    queue.push(async () => {
      log.push('begin sub');
      await slow.task();
      log.push('reply sub');
    }, 1, () => {});
    queue.pushPipelined(b.begin, 1, () => {});
    await settle();
    expect(log).toEqual(['begin a']);
    a.resolve();
    await settle();
    expect(log).toEqual(['begin a', 'reply a', 'begin sub']);
    slow.open();
    await settle();
    expect(log).toEqual(['begin a', 'reply a', 'begin sub', 'reply sub', 'begin b']);
    b.resolve();
    await settle();
    expect(log.at(-1)).toBe('reply b');
  });

  it('answers a failure, thrown at once or later, through its handler in its turn, and goes on', async () => {
    const log: string[] = [];
    const queue = new RequestQueue({}, { inputBacklogFrames: 100, inputBacklogBytes: 1 << 20, publishesInFlight: 1000 });
    const a = pipelined('a', log);
    const c = pipelined('c', log);
    queue.pushPipelined(a.begin, 1, (err) => log.push(`failed a: ${(err as Error).message}`));
    queue.pushPipelined(() => {
      log.push('begin b');
      throw new Error('refused');
    }, 1, (err) => log.push(`failed b: ${(err as Error).message}`));
    queue.pushPipelined(c.begin, 1, (err) => log.push(`failed c: ${(err as Error).message}`));
    await settle();
    // c fails before a is answered: its answer still waits for a's and b's.
    c.reject(new Error('gone'));
    await settle();
    expect(log).toEqual(['begin a', 'begin b', 'begin c']);
    a.resolve();
    await settle();
    expect(log).toEqual(['begin a', 'begin b', 'begin c', 'reply a', 'failed b: refused', 'failed c: gone']);
    expect(queue.backlog).toBe(0);
  });

  it('counts a pipelined request against the bounds until it has replied', async () => {
    const wire = recordingWire();
    const log: string[] = [];
    const queue = new RequestQueue(wire, { inputBacklogFrames: 4, inputBacklogBytes: 1 << 20, publishesInFlight: 1000 });
    const rs = Array.from({ length: 5 }, (_, i) => pipelined(String(i), log));
    for (const r of rs) queue.pushPipelined(r.begin, 1, () => {});
    await settle();
    expect(rs.every((r) => r.begun)).toBe(true);
    expect(wire.calls).toEqual(['pause']);
    for (const r of rs) r.resolve();
    await settle();
    expect(queue.backlog).toBe(0);
    expect(wire.calls).toEqual(['pause', 'resume']);
  });

  it('begins at most publishesInFlight before the first of them has been answered, and the next as each is', async () => {
    const log: string[] = [];
    const queue = new RequestQueue({}, { inputBacklogFrames: 100, inputBacklogBytes: 1 << 20, publishesInFlight: 2 });
    const rs = ['a', 'b', 'c', 'd'].map((n) => pipelined(n, log));
    for (const r of rs) queue.pushPipelined(r.begin, 1, () => {});
    await settle();
    expect(log).toEqual(['begin a', 'begin b']);
    // b answered first is still not answered: it waits for a, and so does c.
    rs[1]!.resolve();
    await settle();
    expect(log).toEqual(['begin a', 'begin b']);
    rs[0]!.resolve();
    await settle();
    expect(log).toEqual(['begin a', 'begin b', 'reply a', 'reply b', 'begin c', 'begin d']);
    rs[2]!.resolve();
    rs[3]!.resolve();
    await settle();
    expect(log.slice(-2)).toEqual(['reply c', 'reply d']);
    expect(queue.backlog).toBe(0);
  });

  it('begins a long run of requests that answer at once over several turns of the event loop, not in one', async () => {
    const queue = new RequestQueue({}, { inputBacklogFrames: 1 << 20, inputBacklogBytes: 1 << 30, publishesInFlight: 1000 });
    const turns = new Set<number>();
    let turn = 0;
    const ticking = setInterval(() => turn++, 0);
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    let answered = 0;
    const all = new Promise<void>((resolve) => {
      for (let i = 0; i < 40; i++) {
        queue.pushPipelined(() => {
          busy(1);
          turns.add(turn);
          return Promise.resolve(() => void (++answered === 40 && resolve()));
        }, 1, () => {});
      }
    });
    await all;
    clearInterval(ticking);
    // 40 ms of work in 4-ms slices: timers ran between them.
    expect(turns.size).toBeGreaterThan(3);
  });

  it('a failure handler that throws is called once', async () => {
    const queue = new RequestQueue({}, { inputBacklogFrames: 100, inputBacklogBytes: 1 << 20, publishesInFlight: 1000 });
    let calls = 0;
    const rejections: unknown[] = [];
    const onRejection = (err: unknown) => rejections.push(err);
    process.on('unhandledRejection', onRejection);
    try {
      queue.pushPipelined(() => Promise.resolve(() => {
        throw new Error('reply failed');
      }), 1, () => {
        calls++;
        throw new Error('handler failed');
      });
      const after: string[] = [];
      queue.push(() => void after.push('next'), 1, () => {});
      await settle();
      await settle();
      expect(calls).toBe(1);
      expect(after, 'the queue goes on').toEqual(['next']);
      expect(rejections.map((e) => (e as Error).message)).toEqual(['handler failed']);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });
});
