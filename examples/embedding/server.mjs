// Hubbub embedded in your own Node server: `npm run example:embedding`, then open http://localhost:3200.
// Plain node:http serves the page; HubSocketServer carries the socket; ChannelHub keeps rooms,
// presence and typing indicators. No `hubbub serve`: everything lives in this one process.
// (The chat on `hubbub serve` and the `@hubbub/client` SDK is examples/chat.)
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { ChannelHub, HubSocketServer } from '@hubbub/server';

const ROOMS = ['general', 'random', 'help'];
const port = Number(process.env.PORT ?? 3200);
/** Member ids follow the client-id rule; this demo takes the name as the id, so it must fit. */
const NAME = /^[A-Za-z0-9._-]{1,32}$/;
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
// A refused upgrade (401) reaches the page only as a failed socket: the page checks the same rule first.
const sockets = new HubSocketServer({
  paths: ['/ws'],
  authFn: (req) => {
    const user = new URL(req.url, 'http://x').searchParams.get('user') ?? '';
    return NAME.test(user) ? user : null;
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
  console.log(`embedding chat listening on http://localhost:${actual}`);
});

