import { describe, expect, it } from 'vitest';
import { WriteScratch } from '../src/transport/write-scratch.js';

const bytes = (...xs: number[]) => Uint8Array.from(xs);

describe('WriteScratch', () => {
  it('gathers pieces back to back', () => {
    const scratch = new WriteScratch();
    const out = scratch.gather([bytes(1, 2), bytes(), bytes(3), bytes(4, 5, 6)]);
    expect([...out]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('reuses its buffer while the writes are taken whole', () => {
    const scratch = new WriteScratch();
    const first = scratch.gather([bytes(1), bytes(2)]);
    const second = scratch.gather([bytes(7), bytes(8), bytes(9)]);
    expect(second.buffer).toBe(first.buffer);
    expect([...second]).toEqual([7, 8, 9]);
  });

  it('leaves handed-over bytes alone', () => {
    const scratch = new WriteScratch();
    const pending = scratch.gather([bytes(1), bytes(2)]);
    scratch.handOver();
    const next = scratch.gather([bytes(8), bytes(9)]);
    expect(next.buffer).not.toBe(pending.buffer);
    expect([...pending]).toEqual([1, 2]);
    expect([...next]).toEqual([8, 9]);
  });

  it('grows for a larger gather, and gives a very large one a buffer of its own', () => {
    const scratch = new WriteScratch();
    const small = scratch.gather([bytes(1), bytes(2)]);
    const big = new Uint8Array(100_000).fill(5);
    const grown = scratch.gather([big, bytes(6)]);
    expect(grown.length).toBe(100_001);
    expect(grown[99_999]).toBe(5);
    expect(grown[100_000]).toBe(6);
    expect(grown.buffer).not.toBe(small.buffer);

    const huge = new Uint8Array(300_000).fill(7);
    const own = scratch.gather([huge, bytes(8)]);
    expect(own.length).toBe(300_001);
    expect(own[300_000]).toBe(8);
    // Handing over a buffer of its own keeps the shared one for the next write.
    scratch.handOver();
    expect(scratch.gather([bytes(1), bytes(2)]).buffer).toBe(grown.buffer);
  });

  it('gives the sockets of one pass that queued the very same frames one buffer, made once', () => {
    const scratch = new WriteScratch();
    const run = [bytes(1, 2), bytes(3)];
    expect(scratch.repeatOf(run, 3)).toBeUndefined(); // the first socket: nothing to repeat yet
    const second = scratch.repeatOf([...run], 3);
    expect(second && [...second]).toEqual([1, 2, 3]);
    expect(scratch.repeatOf([...run], 3)).toBe(second);
    // Its own memory: gathering into the scratch again leaves it as it was.
    scratch.gather([bytes(9), bytes(9), bytes(9)]);
    expect([...second!]).toEqual([1, 2, 3]);
  });

  it('repeats only the same pieces in the same order, not equal bytes', () => {
    const scratch = new WriteScratch();
    const a = bytes(1);
    const b = bytes(2);
    scratch.repeatOf([a, b], 2);
    expect(scratch.repeatOf([b, a], 2)).toBeUndefined();
    expect(scratch.repeatOf([bytes(2), bytes(1)], 2)).toBeUndefined();
    expect(scratch.repeatOf([bytes(2), bytes(1), a], 3)).toBeUndefined();
    const c = bytes(3);
    scratch.repeatOf([a, c], 2);
    expect([...scratch.repeatOf([a, c], 2)!]).toEqual([1, 3]);
  });
});
