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
  /** The pieces `repeatOf` saw last, and (once a second socket queued them too) their one buffer. */
  private lastRun: Uint8Array[] = [];
  private lastLength = 0;
  private repeat?: Buffer;

  /**
   * For the pieces a socket is about to write: when the socket written before it had exactly the same
   * pieces (the same frames, by identity, in the same order: every subscriber of a busy channel in one
   * pass), one buffer of them, made once and never reused, which this socket and the next ones with
   * the same run write as it is; else undefined, and the pieces are remembered. Copying a turn's frames
   * once for a whole pass rather than once per socket is what a server that writes one shared buffer
   * to every subscriber does. Frames are never changed once queued, so identity is enough.
   */
  repeatOf(pieces: readonly Uint8Array[], length: number): Buffer | undefined {
    const last = this.lastRun;
    if (length === this.lastLength && pieces.length === last.length && samePieces(pieces, last)) {
      return (this.repeat ??= Buffer.concat(last, length));
    }
    last.length = 0;
    for (const piece of pieces) last.push(piece);
    this.lastLength = length;
    this.repeat = undefined;
    return undefined;
  }

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

function samePieces(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
