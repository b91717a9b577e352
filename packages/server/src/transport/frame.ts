/**
 * RFC 6455 server frames (unmasked, FIN set). A channel message is framed once and the same bytes
 * are written to every subscriber's socket: framing is not per-subscriber work.
 */
export function frameText(text: string): Buffer {
  return frame(Buffer.from(text), 0x1);
}

export function frameBinary(payload: Uint8Array): Buffer {
  return frame(payload, 0x2);
}

/** The header of a binary frame whose payload of `length` bytes is written after it, in pieces. */
export function binaryHeader(length: number): Buffer {
  const out = Buffer.allocUnsafe(length < 126 ? 2 : length < 65536 ? 4 : 10);
  writeHeader(out, length, 0x2);
  return out;
}

function frame(payload: Uint8Array, opcode: number): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(headerLength + length);
  writeHeader(out, length, opcode);
  out.set(payload, headerLength);
  return out;
}

function writeHeader(out: Buffer, length: number, opcode: number): void {
  out[0] = 0x80 | opcode;
  if (length < 126) {
    out[1] = length;
  } else if (length < 65536) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
}
