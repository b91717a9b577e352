/** `start()` as a promise: a synchronous throw becomes its rejection, so callers handle one path. */
export function attempt<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (err) {
    return Promise.reject(err);
  }
}
