/**
 * Work that runs as a chain of promises never gives the event loop back by itself: an engine that
 * answers at once (the memory engine) turns hundreds of pipelined requests into one long turn, and
 * every other connection waits. `pause()` is free while the current slice of work is short and, once
 * it has run for `SLICE_MS`, returns a promise that resolves on the next turn of the event loop.
 */
const SLICE_MS = 4;

let sliceStart = performance.now();
let resetScheduled = false;

function newSlice(): void {
  sliceStart = performance.now();
  resetScheduled = false;
}

/** Undefined while there is time left in this slice; else a promise to await before going on. */
export function pause(): Promise<void> | undefined {
  const now = performance.now();
  if (!resetScheduled) {
    // The first call since the loop was last free starts a slice; the next turn starts another.
    sliceStart = now;
    resetScheduled = true;
    setImmediate(newSlice);
    return undefined;
  }
  if (now - sliceStart < SLICE_MS) return undefined;
  return new Promise((resolve) =>
    setImmediate(() => {
      newSlice();
      resolve();
    }),
  );
}
