// Presence churn: this process holds every member of its channels (so that the time a change was sent
// and the times it was seen are read on one clock). Each client has its own client id (a token minted
// here with the bench's signing key), watches its channel's presence, and takes turns entering and
// leaving; the latency of a change is from its `pres` frame to each watcher's `presEvt` of it.
import { createHmac } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, now } from '../lib/rawws.mjs';
import { Histogram } from '../lib/hist.mjs';

const cfg = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));
const lag = monitorEventLoopDelay({ resolution: 2 });
lag.enable();

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
function mint(sub) {
  const iat = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ app: cfg.app, sub, iat, exp: iat + 86400 })}`;
  return `${body}.${createHmac('sha256', cfg.signingKey).update(body).digest('base64url')}`;
}

const latencies = new Histogram();
const sentAt = new Map();
const clients = [];
let events = 0;
let changes = 0;
let errors = 0;
let lastError = '';
let closed = 0;

function open(channel, clientId) {
  return new Promise((resolve, reject) => {
    const me = { channel, clientId, present: false, nextId: 2, ready: false };
    const c = connect(`ws://127.0.0.1:${cfg.port}/`, {
      wantPayload: true,
      onOpen: (api) => api.send(JSON.stringify({ t: 'auth', token: mint(clientId) })),
      onFrame: (text) => {
        if (!me.ready) {
          if (text.startsWith('{"t":"connected"')) c.send(JSON.stringify({ t: 'presSub', id: 1, channel }));
          else if (text.startsWith('{"t":"ack"') && /"id":1[,}]/.test(text)) {
            me.ready = true;
            resolve(me);
          } else if (text.startsWith('{"t":"err"')) reject(new Error(`presence watch refused: ${text.slice(0, 200)}`));
          return;
        }
        if (text.startsWith('{"t":"presEvt"')) {
          const t = now();
          const f = JSON.parse(text);
          events++;
          const sent = sentAt.get(`${f.clientId}\u0000${f.action}`);
          if (sent !== undefined) latencies.add(t - sent);
        } else if (text.startsWith('{"t":"err"')) {
          errors++;
          lastError = text.slice(0, 200);
        }
      },
    });
    me.conn = c;
    c.socket.on('error', reject);
    c.socket.on('close', () => {
      if (me.ready) closed++;
      else reject(new Error('closed before watching presence'));
    });
  });
}

async function openAll() {
  const todo = [];
  for (const channel of cfg.channels) for (let j = 0; j < cfg.perChannel; j++) todo.push([channel, `${channel}-m${j}`]);
  let i = 0;
  const lane = async () => {
    while (i < todo.length) clients.push(await open(...todo[i++]));
  };
  await Promise.all(Array.from({ length: 100 }, lane));
}

function change(me) {
  const action = me.present ? 'leave' : 'enter';
  me.present = !me.present;
  const ts = now();
  // A client changes every few seconds, far apart from its latency: its last change of each kind is the one seen.
  sentAt.set(`${me.clientId}\u0000${action}`, ts);
  me.conn.send(JSON.stringify({ t: 'pres', id: me.nextId++, channel: me.channel, action, ...(action === 'enter' ? { data: { ts } } : {}) }));
  changes++;
}

process.on('message', (m) => {
  if (m.type === 'start') {
    // Changes due by the clock, checked every millisecond; clients take turns.
    const t0 = now();
    let made = 0;
    let k = 0;
    latencies.take();
    lag.reset();
    const timer = setInterval(() => {
      const due = Math.floor(((now() - t0) * m.rate) / 1000);
      for (; made < due; made++) change(clients[k++ % clients.length]);
    }, 1);
    setTimeout(() => {
      clearInterval(timer);
      // Time for the last changes' events to arrive.
      setTimeout(() => {
        process.send({ type: 'done', changes, events, expectedEvents: changes * cfg.perChannel, errors, lastError, closed, latencies: latencies.take(), lagP99: Math.max(0, lag.percentile(99) / 1e6 - 2) });
      }, 1000);
    }, m.ms);
  }
});

openAll().then(
  () => process.send({ type: 'ready' }),
  (err) => {
    process.send({ type: 'error', message: err.message });
    process.exit(1);
  },
);
