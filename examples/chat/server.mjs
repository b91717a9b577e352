// A runnable chat on Hubbub's embedding API: `npm run example:chat`, then open http://localhost:3100.
// Plain node:http serves the page; HubSocketServer carries the socket; ChannelHub keeps rooms,
// presence and typing indicators.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { ChannelHub, HubSocketServer } from '@hubbub/server';

const ROOMS = ['general', 'random', 'help'];
const port = Number(process.env.PORT ?? 3100);
const page = new URL('./public/index.html', import.meta.url);

const hub = new ChannelHub({ typingTtlMs: 4000 });
const http = createServer(async (req, res) => {
  if (req.url === '/' || req.url?.startsWith('/?')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(await readFile(page));
  } else {
    res.writeHead(404).end();
  }
});

// The user name comes from the upgrade URL (`?user=alice`); a real app would check a session here.
const sockets = new HubSocketServer({
  paths: ['/ws'],
  authFn: (req) => {
    const user = new URL(req.url, 'http://x').searchParams.get('user') ?? '';
    return /^[A-Za-z0-9_-]{1,32}$/.test(user) ? user : null;
  },
});

sockets.attach(http, (socket) => {
  const user = socket.auth;
  let room;
  hub.bind(socket);
  socket.emit('rooms', ROOMS);

  socket.on('join', (next) => {
    if (!ROOMS.includes(next) || next === room) return;
    if (room) hub.leave(room, user, socket);
    room = next;
    hub.join(room, user, socket);
    socket.emit('joined', { room, members: hub.presence(room), typing: hub.typingMembers(room) });
  });
  socket.on('say', (text) => {
    if (!room || typeof text !== 'string' || !text.trim()) return;
    hub.setTyping(room, user, false, socket);
    hub.publish(room, 'said', { room, user, text: text.slice(0, 2000), at: Date.now() });
  });
  socket.on('typing', (typing) => {
    if (room) hub.setTyping(room, user, Boolean(typing), socket);
  });
});

http.listen(port, () => {
  const { port: actual } = http.address();
  console.log(`chat listening on http://localhost:${actual}`);
});

