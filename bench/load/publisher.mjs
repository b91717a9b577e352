// Publishers: "flood" keeps a window of unacknowledged publishes in flight on each connection (as fast
// as the server drains; window 0: no window at all, as fast as the socket takes them); "rate" publishes
// at a fixed total rate from many connections and measures publish→ack. Every payload carries its publish time (`ts`, wall-clock ms with sub-ms resolution) for
// the subscribers' end-to-end latency.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, now } from '../lib/rawws.mjs';
import { pathOf, protocols } from '../lib/protocols.mjs';
import { Histogram } from '../lib/hist.mjs';

const cfg = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));
const proto = protocols[cfg.kind];
const pad = 'x'.repeat(Math.max(0, (cfg.payloadBytes ?? 100) - 40));
// The histogram holds whole intervals between timer ticks: the lag is what exceeds the resolution.
const LAG_RESOLUTION = 2;
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION });
const lagMs = (ns) => Math.max(0, ns / 1e6 - LAG_RESOLUTION);
lag.enable();
let errors = 0;
let lastError = '';

function openPublisher(index) {
  const ctx = { ...cfg, prefix: `${process.pid}-${index}` };
  return new Promise((resolve) => {
    const api = connect(`ws://127.0.0.1:${cfg.port}${pathOf(proto, cfg)}`, {
      wantPayload: true,
      onOpen: (c) => proto.open(c, ctx, () => resolve(c)),
      onFrame: (text) => {
        if (api.onText) return api.onText(text);
        const id = proto.ackOf(text);
        if (id !== undefined) return api.onAck?.(id);
        if (text.startsWith('{"t":"err"')) {
          errors++;
          lastError = text.slice(0, 200);
          const m = /"id":(\d+)/.exec(text);
          if (m) api.onAck?.(Number(m[1]));
        }
      },
    });
    api.ctx = ctx;
  });
}

async function openAll(n) {
  const conns = [];
  for (let i = 0; i < n; i++) conns.push(await openPublisher(i));
  return conns;
}

async function flood() {
  const conns = await openAll(cfg.publishers ?? 1);
  let stopAt = 0;
  let published = 0;
  let acked = 0;
  conns.forEach((c, k) => {
    let next = 1;
    let done = 0;
    const pump = () => {
      while (next - 1 - done < cfg.window && now() < stopAt) {
        // Each connection walks the channels from its own starting point.
        const channel = cfg.channels[(next + k * 7919) % cfg.channels.length];
        proto.publish(c, channel, { ts: now(), p: pad }, next++, c.ctx);
        published++;
      }
    };
    // window 0: unbounded, acks are only counted. Publishes go out in bursts of 256 a turn while the
    // socket takes them; when it does not (the server stopped reading) the next burst waits for 'drain'.
    // The only thing that slows such a publisher is the server: TCP backpressure or late acks.
    const burst = () => {
      if (now() >= stopAt) return;
      for (let n = 0; n < 256; n++) {
        const channel = cfg.channels[(next + k * 7919) % cfg.channels.length];
        proto.publish(c, channel, { ts: now(), p: pad }, next++, c.ctx);
        published++;
      }
      if (c.socket.writableNeedDrain) c.socket.once('drain', burst);
      else setImmediate(burst);
    };
    c.onAck = () => {
      done++;
      acked++;
      if (cfg.window > 0) pump();
    };
    c.pump = cfg.window > 0 ? pump : burst;
  });
  process.on('message', (m) => {
    if (m.type === 'start') {
      stopAt = now() + m.ms;
      for (const c of conns) c.pump();
    } else if (m.type === 'stop') {
      stopAt = 0;
      process.send({ type: 'done', published, acked, errors, lastError });
    }
  });
  process.send({ type: 'ready' });
}

async function rate() {
  const conns = await openAll(cfg.publishers);
  const acks = new Histogram();
  const pending = conns.map(() => new Map());
  let recordFrom = Infinity;
  conns.forEach((c, i) => {
    c.onAck = (id) => {
      const t = pending[i].get(id);
      if (t === undefined) return;
      pending[i].delete(id);
      if (t < recordFrom) return;
      const ms = now() - t;
      acks.add(ms);
      // The slowest ack of each 100 ms of the run: shows whether the tail comes in bursts (a pause
      // somewhere) or is spread evenly.
      const b = Math.floor((t - recordFrom) / 100);
      if (!(worst[b] >= ms)) worst[b] = ms;
    };
  });
  let worst = [];
  let id = 1;
  process.on('message', (m) => {
    if (m.type !== 'start') return;
    // Publish what is due by the clock (not by counting timer ticks, which run late under load),
    // checking every millisecond; connections take turns.
    const t0 = now();
    let sent = 0;
    recordFrom = t0 + (m.warmupMs ?? 0);
    acks.take();
    worst = [];
    lag.reset();
    const timer = setInterval(() => {
      const t = now();
      const due = Math.min(Math.floor(((t - t0) * m.rate) / 1000), Math.floor((m.ms * m.rate) / 1000));
      for (; sent < due; sent++, id++) {
        const i = id % conns.length;
        const ts = now();
        pending[i].set(id, ts);
        proto.publish(conns[i], cfg.channels[i % cfg.channels.length], { ts, p: pad }, id, conns[i].ctx);
      }
    }, 1);
    setTimeout(() => {
      clearInterval(timer);
      setTimeout(() => {
        const unacked = pending.reduce((a, p) => a + p.size, 0);
        for (const p of pending) p.clear();
        process.send({ type: 'done', published: sent, unacked, errors, lastError, acks: acks.take(), worstBy100ms: Array.from(worst, (x) => Math.round((x ?? 0) * 10) / 10), lagP99: lagMs(lag.percentile(99)), lagMax: lagMs(lag.max) });
      }, 300);
    }, m.ms);
  });
  process.send({ type: 'ready' });
}

(cfg.mode === 'rate' ? rate() : flood()).catch((err) => {
  process.send({ type: 'error', message: err.message });
  process.exit(1);
});
