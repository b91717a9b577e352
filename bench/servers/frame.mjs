// A WebSocket text frame (server to client: no mask) around `text`, for the bare servers that frame a
// message once and write the same bytes to many sockets.
export function frame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const h = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(h + n);
  out[0] = 0x81;
  if (n < 126) out[1] = n;
  else if (n < 65536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(n, 6);
  }
  payload.copy(out, h);
  return out;
}
