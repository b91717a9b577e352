/** Gathered writes larger than this get a buffer of their own rather than growing the shared one. */
const MAX_SHARED_BYTES = 256 * 1024;
const INITIAL_BYTES = 16 * 1024;

/**
 * One buffer that the frames queued for a socket are copied into, back to back, so that they leave in
 * one plain write. A write the kernel takes whole leaves nothing behind and the next socket reuses
 * the buffer; a write it takes only in part keeps the bytes until it is done, so the buffer is handed
 * over and the next write gets a new one. At a million deliveries a second a fresh buffer per write
 * was enough external memory to start an old-generation collection every 150 ms.
 */
export class WriteScratch {
  private buffer?: Buffer;
  /** Whether the last gather returned the shared buffer (rather than one of its own). */
  private shared = false;

  /** The pieces back to back, as one buffer valid until the next call. */
  gather(pieces: readonly Uint8Array[]): Buffer {
    let length = 0;
    for (const piece of pieces) length += piece.length;
    this.shared = length <= MAX_SHARED_BYTES;
    if (!this.shared) return Buffer.concat(pieces, length);
    let buffer = this.buffer;
    if (!buffer || buffer.length < length) {
      const size = Math.min(MAX_SHARED_BYTES, Math.max(INITIAL_BYTES, 2 ** Math.ceil(Math.log2(length))));
      buffer = this.buffer = Buffer.allocUnsafeSlow(size);
    }
    let at = 0;
    for (const piece of pieces) {
      buffer.set(piece, at);
      at += piece.length;
    }
    return buffer.subarray(0, length);
  }

  /** The last gathered bytes are still being written: they are no longer this scratch's to reuse. */
  handOver(): void {
    if (this.shared) this.buffer = undefined;
  }
}
