// How each server under test is spoken to over a raw socket: the same workload, each in its own dialect.
// `path` is a string or a function of the load process's config; `refused(text)`, when a dialect has
// it, says a subscription was refused; `keepalive`, a frame to send now and then while only counting.
import { pusher } from './pusher.mjs';

const json = JSON.stringify;

export const protocols = {
  hubbub: {
    path: '/',
    open(c, ctx, done) {
      c.send(json({ t: 'auth', token: ctx.token }));
      done();
    },
    subscribe: (c, channel, id) => c.send(json({ t: 'sub', id, channel })),
    publish: (c, channel, data, id, ctx) => c.send(json({ t: 'pub', id, channel, name: 'm', data, messageId: `${ctx.prefix}-${id}` })),
    ackOf: (text) => (text.startsWith('{"t":"ack"') ? Number(/"id":(\d+)/.exec(text)[1]) : undefined),
  },
  ws: {
    path: '/',
    open: (c, ctx, done) => done(),
    subscribe: (c, channel, id) => c.send(json({ t: 'sub', id, channel })),
    publish: (c, channel, data, id) => c.send(json({ t: 'pub', id, channel, data })),
    ackOf: (text) => (text.startsWith('{"t":"ack"') ? Number(/"id":(\d+)/.exec(text)[1]) : undefined),
  },
  socketio: {
    path: '/socket.io/?EIO=4&transport=websocket',
    // Engine.IO: the server opens with "0{…}"; we connect to the default namespace with "40" and wait for its "40{…}".
    open(c, ctx, done) {
      c.onText = (text) => {
        if (text.startsWith('0{')) c.send('40');
        else if (text.startsWith('40')) {
          c.onText = undefined;
          done();
        }
      };
    },
    subscribe: (c, channel, id) => c.send(`42${id}${json(['join', channel])}`),
    publish: (c, channel, data, id) => c.send(`42${id}${json(['pub', channel, data])}`),
    ackOf: (text) => (text.startsWith('43') ? Number(/^43(\d+)/.exec(text)[1]) : undefined),
  },
};
protocols['ws-batched'] = protocols.ws;
protocols['ws-shared'] = protocols.ws;
protocols.pusher = pusher;

export const pathOf = (proto, cfg) => (typeof proto.path === 'function' ? proto.path(cfg) : proto.path);
