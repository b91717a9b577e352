// A load process: opens many cheap connections, subscribes each to a channel, then counts what arrives.
// Talks to the orchestrator over IPC. Latency probes read the publish time the publisher put in the
// payload and compare it with this process's clock right after the frame is read; the orchestrator
// puts the probes in a process of their own, with nothing else to read, so that their timestamps are
// not held up behind a thousand other sockets. Each `count` reply also says how late this process's
// event loop ran since the last one: when it is late, the latency it measures is partly its own.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, now } from '../lib/rawws.mjs';
import { pathOf, protocols } from '../lib/protocols.mjs';
import { Histogram } from '../lib/hist.mjs';

const cfg = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));
const proto = protocols[cfg.kind];
// Connection i (a global index: the orchestrator hands each process its own) belongs to channel
// i % channels, and to node ⌊i / channels⌋ % nodes: with several nodes every channel has subscribers
// on each of them.
const ports = cfg.ports;
const conns = [];
let subscribed = 0;
let closed = 0;
const latencies = new Histogram();
// The histogram holds whole intervals between timer ticks: the lag is what exceeds the resolution.
const LAG_RESOLUTION = 2;
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION });
const lagMs = (ns) => Math.max(0, ns / 1e6 - LAG_RESOLUTION);
lag.enable();

function open(i) {
  return new Promise((resolve, reject) => {
    const probe = cfg.probes;
    const port = ports[Math.floor(i / cfg.channels.length) % ports.length];
    const c = connect(`ws://127.0.0.1:${port}${pathOf(proto, cfg)}`, {
      wantPayload: true,
      onOpen: (api) => {
        proto.open(api, cfg, () => {
          if (!cfg.idle) proto.subscribe(api, cfg.channels[i % cfg.channels.length], 1);
          // Idle: authenticated is ready; a dialect without authentication is ready once open.
          else if (cfg.kind !== 'hubbub') ready();
        });
      },
      onFrame: (text) => {
        if (c.onText) return c.onText(text);
        if (!c.ready) {
          if (cfg.idle ? text.startsWith('{"t":"connected"') : proto.ackOf(text) === 1) {
            ready();
          } else if (/"t":"err"|^44/.test(text) || proto.refused?.(text)) {
            reject(new Error(`subscribe refused: ${text.slice(0, 200)}`));
          }
          return;
        }
        if (probe) {
          const t = now();
          const m = /"ts":(\d+(?:\.\d+)?)/.exec(text);
          if (m) latencies.add(t - Number(m[1]));
        }
      },
    });
    function ready() {
      c.ready = true;
      subscribed++;
      if (!probe) c.setWantPayload(false);
      resolve();
    }
    c.socket.on('error', reject);
    c.socket.on('close', () => {
      if (!c.ready) reject(new Error('closed before subscribing'));
      else closed++;
    });
    conns.push(c);
  });
}

// Opened in steps the orchestrator calls out (all indices below `upTo`), so that the connections of
// all load processes reach the server interleaved, as their indices say; up to 200 handshakes in
// flight at a time (more can overflow the server's accept backlog).
let position = 0;
async function openUpTo(upTo) {
  const lane = async () => {
    while (position < cfg.indices.length && cfg.indices[position] < upTo) await open(cfg.indices[position++]);
  };
  await Promise.all(Array.from({ length: 200 }, lane));
}

// A frame the dialect wants sent now and then to stay connected while its replies go uncounted.
if (proto.keepalive) {
  setInterval(() => {
    for (const c of conns) if (c.ready) c.send(proto.keepalive);
  }, cfg.keepaliveMs ?? 5000).unref();
}

process.on('message', (m) => {
  if (m.type === 'open') {
    openUpTo(m.upTo).then(
      () => {
        lag.reset();
        process.send({ type: 'opened', subscribed });
      },
      (err) => {
        process.send({ type: 'error', message: err.message });
        process.exit(1);
      },
    );
  } else if (m.type === 'count') {
    let frames = 0;
    for (const c of conns) frames += c.state.frames;
    process.send({
      type: 'count',
      probes: cfg.probes,
      at: now(),
      frames,
      closed,
      lagP99: lagMs(lag.percentile(99)),
      lagMax: lagMs(lag.max),
      latencies: latencies.take(),
    });
    lag.reset();
  } else if (m.type === 'exit') {
    for (const c of conns) c.close();
    process.exit(0);
  }
});
process.send({ type: 'ready' });
