// A deliberately cheap WebSocket client for load generation: raw TCP, a hand-written upgrade, masked
// text frames out, and inbound frames counted by walking their headers (payloads are not decoded
// unless a callback asks for them). The server under test is what should burn CPU, not the client.
//
// Reads go into one buffer shared by every socket of the process (`onread`): no Buffer is allocated
// and no 'data' event emitted per read, which is most of what a read costs a Node client. The walk
// below finishes with the bytes before the next read can reuse the buffer, and copies what it keeps.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

const shared = Buffer.allocUnsafe(256 * 1024);

export function connect(url, { onOpen, onFrame, wantPayload: initialWant = false } = {}) {
  let wantPayload = initialWant;
  const u = new URL(url);
  const state = { frames: 0, bytes: 0, open: false };
  let handshake = Buffer.alloc(0);
  // Frame-walking state, kept across chunks: header bytes seen so far, payload bytes left to skip.
  const header = Buffer.alloc(14);
  let headerLength = 0;
  let remaining = 0;
  let payloadParts = [];
  let currentOpcode = 0;

  const socket = net.connect({
    port: Number(u.port),
    host: u.hostname,
    onread: { buffer: shared, callback: (n, buf) => void onRead(buf.subarray(0, n)) },
  });
  socket.setNoDelay(true);

  socket.on('connect', () => {
    const key = randomBytes(16).toString('base64');
    socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });

  const api = {
    state,
    socket,
    setWantPayload(v) {
      wantPayload = v;
    },
    send(text) {
      socket.write(maskFrame(Buffer.from(text)));
    },
    close() {
      socket.destroy();
    },
  };

  function onData(chunk) {
    state.bytes += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      if (remaining > 0) {
        const take = Math.min(remaining, chunk.length - i);
        // Copied: the chunk is the shared read buffer, overwritten by the next read.
        if (wantPayload) payloadParts.push(Buffer.from(chunk.subarray(i, i + take)));
        remaining -= take;
        i += take;
        if (remaining === 0) finish();
        continue;
      }
      header[headerLength++] = chunk[i++];
      if (headerLength < 2) continue;
      const len7 = header[1] & 0x7f;
      const need = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
      if (headerLength < need) continue;
      currentOpcode = header[0] & 0x0f;
      remaining = len7 < 126 ? len7 : len7 === 126 ? header.readUInt16BE(2) : header.readUInt32BE(6);
      headerLength = 0;
      if (remaining === 0) finish();
    }
  }

  function finish() {
    if (currentOpcode === 0x1 || currentOpcode === 0x2) {
      state.frames++;
      if (onFrame && wantPayload) onFrame(payloadParts.length === 1 ? payloadParts[0].toString() : Buffer.concat(payloadParts).toString());
    } else if (currentOpcode === 0x9) {
      // Answer pings so the server keeps us: an empty pong is allowed.
      socket.write(Buffer.from([0x8a, 0x80, 0, 0, 0, 0]));
    }
    payloadParts = [];
  }

  function onRead(chunk) {
    if (state.open) return onData(chunk);
    handshake = Buffer.concat([handshake, chunk]);
    const end = handshake.indexOf('\r\n\r\n');
    if (end < 0) return;
    if (!handshake.subarray(0, 12).toString().includes('101')) {
      socket.destroy(new Error(`upgrade refused: ${handshake.subarray(0, end).toString().split('\r\n')[0]}`));
      return;
    }
    state.open = true;
    onOpen?.(api);
    const rest = handshake.subarray(end + 4);
    handshake = Buffer.alloc(0);
    if (rest.length) onData(rest);
  }

  socket.on('error', () => {});
  return api;
}

function maskFrame(payload) {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(headerLength + 4 + length);
  out[0] = 0x81;
  if (length < 126) out[1] = 0x80 | length;
  else if (length < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(length, 6);
  }
  const mask = randomBytes(4);
  mask.copy(out, headerLength);
  for (let j = 0; j < length; j++) out[headerLength + 4 + j] = payload[j] ^ mask[j & 3];
  return out;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes. */
export const now = () => performance.timeOrigin + performance.now();
