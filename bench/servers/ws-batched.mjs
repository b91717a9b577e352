// Bare `ws`, the practical limit on Node: frame each message once, queue per socket, and write each
// socket's queue once per event-loop turn (cork/uncork → writev).
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: Number(process.env.PORT ?? 0), perMessageDeflate: false });
const channels = new Map();

function frame(text) {
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

const dirty = new Set();
let scheduled = false;
function enqueue(ws, bytes) {
  (ws.queue ??= []).push(bytes);
  dirty.add(ws);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}
function flush() {
  scheduled = false;
  for (const ws of dirty) {
    const sock = ws._socket;
    if (sock && !sock.destroyed) {
      sock.cork();
      for (const b of ws.queue) sock.write(b);
      sock.uncork();
    }
    ws.queue.length = 0;
  }
  dirty.clear();
}

wss.on('connection', (ws) => {
  ws.on('message', (raw) => {
    const m = JSON.parse(raw);
    if (m.t === 'sub') {
      if (!channels.has(m.channel)) channels.set(m.channel, new Set());
      channels.get(m.channel).add(ws);
      ws.on('close', () => channels.get(m.channel)?.delete(ws));
      enqueue(ws, frame(JSON.stringify({ t: 'ack', id: m.id })));
    } else if (m.t === 'pub') {
      const bytes = frame(JSON.stringify({ t: 'msg', channel: m.channel, data: m.data }));
      for (const sub of channels.get(m.channel) ?? []) enqueue(sub, bytes);
      enqueue(ws, frame(JSON.stringify({ t: 'ack', id: m.id })));
    }
  });
});
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
