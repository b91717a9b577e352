// Publishers: "flood" keeps a window of unacknowledged publishes in flight (as fast as the server
// drains); "rate" publishes at a fixed total rate from many connections and measures publish→ack.
import { connect } from '../lib/rawws.mjs';
import { protocols } from '../lib/protocols.mjs';

const cfg = JSON.parse(process.argv[2]);
const proto = protocols[cfg.kind];
const pad = 'x'.repeat(Math.max(0, (cfg.payloadBytes ?? 100) - 40));

function openPublisher(index) {
  return new Promise((resolve) => {
    const api = connect(`ws://127.0.0.1:${cfg.port}${proto.path}`, {
      wantPayload: true,
      onOpen: (c) => proto.open(c, { ...cfg, prefix: `${process.pid}-${index}` }, () => resolve(c)),
      onFrame: (text) => {
        if (api.onText) return api.onText(text);
        const id = proto.ackOf(text);
        if (id !== undefined) api.onAck?.(id);
      },
    });
  });
}

const percentile = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] : 0);

async function flood() {
  const c = await openPublisher(0);
  const ctx = { ...cfg, prefix: `${process.pid}-0` };
  let next = 1;
  let acked = 0;
  let stopAt = 0;
  const pump = () => {
    while (next - 1 - acked < cfg.window && (stopAt === 0 || Date.now() < stopAt)) {
      const channel = cfg.channels[next % cfg.channels.length];
      proto.publish(c, channel, { ts: Date.now(), p: pad }, next++, ctx);
    }
  };
  c.onAck = () => {
    acked++;
    pump();
  };
  process.on('message', (m) => {
    if (m.type === 'start') {
      stopAt = Date.now() + m.ms;
      pump();
      setTimeout(() => process.send({ type: 'done', published: next - 1, acked }), m.ms + 200);
    }
  });
  process.send({ type: 'ready' });
}

async function rate() {
  const conns = [];
  for (let i = 0; i < cfg.publishers; i++) conns.push(await openPublisher(i));
  const sent = new Map();
  const latencies = [];
  conns.forEach((c, i) => {
    c.onAck = (id) => {
      const t = sent.get(`${i}:${id}`);
      if (t !== undefined) {
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
        sent.delete(`${i}:${id}`);
      }
    };
  });
  process.on('message', (m) => {
    if (m.type !== 'start') return;
    const perTick = cfg.rate / 200; // 5 ms ticks
    let carry = 0;
    let id = 1;
    const timer = setInterval(() => {
      carry += perTick;
      for (; carry >= 1; carry--) {
        const i = id % conns.length;
        sent.set(`${i}:${id}`, process.hrtime.bigint());
        proto.publish(conns[i], cfg.channels[i % cfg.channels.length], { ts: Date.now(), p: pad }, id, { ...cfg, prefix: `${process.pid}-${i}` });
        id++;
      }
    }, 5);
    setTimeout(() => {
      clearInterval(timer);
      setTimeout(() => process.send({ type: 'done', published: id - 1, acked: latencies.length, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) }), 300);
    }, m.ms);
  });
  process.send({ type: 'ready' });
}

(cfg.mode === 'rate' ? rate() : flood()).catch((err) => {
  process.send({ type: 'error', message: err.message });
  process.exit(1);
});
