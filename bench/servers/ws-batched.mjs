// Bare `ws`, the practical limit on Node: frame each message once, queue per socket, and write each
// socket's queue once per event-loop turn (cork/uncork → writev).
import { WebSocketServer } from 'ws';
import { frame } from './frame.mjs';

const wss = new WebSocketServer({ port: Number(process.env.PORT ?? 0), perMessageDeflate: false });
const channels = new Map();

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
