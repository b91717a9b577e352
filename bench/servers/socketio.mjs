// Socket.IO 4 with rooms, WebSocket transport only, as a user would set it up.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, pingInterval: 600_000, pingTimeout: 600_000 });
io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(room);
    ack?.();
  });
  socket.on('pub', (room, data, ack) => {
    io.to(room).emit('msg', data);
    ack?.();
  });
});
http.listen(Number(process.env.PORT ?? 0), () => console.log(`listening ${http.address().port}`));
