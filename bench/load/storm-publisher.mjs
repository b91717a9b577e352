// Reconnect storm, the publisher: on the node that stays up, `rate` publishes/s round-robin over the
// channels, keeping the highest serial acknowledged per channel (what a client must reach to be caught
// up, and what it must not miss). IPC: start → serials (the current map) → stop (the final map, once
// the publishes in flight are acknowledged).
import { connect } from '../lib/rawws.mjs';
import { protocols } from '../lib/protocols.mjs';

const cfg = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));
const proto = protocols.hubbub;
const serials = {};
const inFlight = new Map();
let errors = 0;
let lastError = '';
let id = 1;

const conn = await new Promise((resolve) => {
  const c = connect(`ws://127.0.0.1:${cfg.port}/`, {
    wantPayload: true,
    onOpen: (api) => proto.open(api, { token: cfg.token }, () => {}),
    onFrame: (text) => {
      if (text.startsWith('{"t":"connected"')) return resolve(c);
      if (text.startsWith('{"t":"ack"')) {
        const f = JSON.parse(text);
        const channel = inFlight.get(f.id);
        inFlight.delete(f.id);
        if (channel !== undefined && f.seq !== undefined) serials[channel] = Math.max(serials[channel] ?? 0, f.seq);
      } else if (text.startsWith('{"t":"err"')) {
        errors++;
        lastError = text.slice(0, 200);
        const m = /"id":(\d+)/.exec(text);
        if (m) inFlight.delete(Number(m[1]));
      }
    },
  });
});

let timer;
process.on('message', (m) => {
  if (m.type === 'start') {
    const t0 = performance.now();
    let sent = 0;
    timer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) * cfg.rate) / 1000);
      for (; sent < due; sent++, id++) {
        const channel = cfg.channels[id % cfg.channels.length];
        inFlight.set(id, channel);
        proto.publish(conn, channel, { n: id }, id, { prefix: `storm-${process.pid}` });
      }
    }, 2);
  } else if (m.type === 'serials') {
    process.send({ type: 'serials', serials: { ...serials } });
  } else if (m.type === 'stop') {
    clearInterval(timer);
    const deadline = performance.now() + 5000;
    const wait = () => (inFlight.size === 0 || performance.now() > deadline
      ? process.send({ type: 'stopped', serials: { ...serials }, unacked: inFlight.size, errors, lastError })
      : setTimeout(wait, 20));
    wait();
  }
});
process.send({ type: 'ready' });
