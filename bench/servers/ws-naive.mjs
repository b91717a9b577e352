// Bare `ws` broadcast, the common way: one socket.send() per subscriber per message.
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ port: Number(process.env.PORT ?? 0), perMessageDeflate: false });
const channels = new Map();
wss.on('connection', (ws) => {
  ws.on('message', (raw) => {
    const m = JSON.parse(raw);
    if (m.t === 'sub') {
      if (!channels.has(m.channel)) channels.set(m.channel, new Set());
      channels.get(m.channel).add(ws);
      ws.on('close', () => channels.get(m.channel)?.delete(ws));
      ws.send(JSON.stringify({ t: 'ack', id: m.id }));
    } else if (m.t === 'pub') {
      const text = JSON.stringify({ t: 'msg', channel: m.channel, data: m.data });
      for (const sub of channels.get(m.channel) ?? []) sub.send(text);
      ws.send(JSON.stringify({ t: 'ack', id: m.id }));
    }
  });
});
wss.on('listening', () => console.log(`listening ${wss.address().port}`));
