// Bare `ws`, the yardstick for fan-out: the messages a channel gets in one event-loop turn are framed
// once into one buffer, and that same buffer is written to every socket subscribed to the channel
// (ws-batched frames each message once too, but gathers a queue per socket and writes each queue).
// Acks go on a per-socket queue written once per turn. No history, serials, auth or backpressure.
import { WebSocketServer } from 'ws';
import { frame } from './frame.mjs';

const wss = new WebSocketServer({ port: Number(process.env.PORT ?? 0), perMessageDeflate: false });
const channels = new Map();

// This turn's frames per channel (in publish order), and acks per socket.
const pendingByChannel = new Map();
const pendingAcks = new Map();
let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}
function flush() {
  scheduled = false;
  for (const [name, frames] of pendingByChannel) {
    const subs = channels.get(name);
    if (!subs?.size) continue;
    const shared = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    for (const ws of subs) {
      const sock = ws._socket;
      if (sock && !sock.destroyed) sock.write(shared);
    }
  }
  pendingByChannel.clear();
  for (const [ws, acks] of pendingAcks) {
    const sock = ws._socket;
    if (sock && !sock.destroyed) sock.write(acks.length === 1 ? acks[0] : Buffer.concat(acks));
  }
  pendingAcks.clear();
}
function ack(ws, id) {
  let q = pendingAcks.get(ws);
  if (!q) pendingAcks.set(ws, (q = []));
  q.push(frame(JSON.stringify({ t: 'ack', id })));
  schedule();
}

wss.on('connection', (ws) => {
  ws.on('message', (raw) => {
    const m = JSON.parse(raw);
    if (m.t === 'sub') {
      if (!channels.has(m.channel)) channels.set(m.channel, new Set());
      channels.get(m.channel).add(ws);
      ws.on('close', () => channels.get(m.channel)?.delete(ws));
      ack(ws, m.id);
    } else if (m.t === 'pub') {
      let q = pendingByChannel.get(m.channel);
      if (!q) pendingByChannel.set(m.channel, (q = []));
      q.push(frame(JSON.stringify({ t: 'msg', channel: m.channel, data: m.data })));
      ack(ws, m.id);
    }
  });
  ws.on('close', () => pendingAcks.delete(ws));
});
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
