// A load process: opens many cheap connections, subscribes each to a channel, then counts what arrives.
// Talks to the orchestrator over IPC. Latency probes (every Nth connection) read the publish time the
// publisher put in the payload and compare it with this process's clock right after the frame is read.
// Each `count` reply also says how late this process's own event loop ran since the last one: when it
// is late, the latency it measures is the load generator's, not the server's.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect, now } from '../lib/rawws.mjs';
import { protocols } from '../lib/protocols.mjs';
import { Histogram } from '../lib/hist.mjs';

const cfg = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));
const proto = protocols[cfg.kind];
// Connection i belongs to channel i % channels, and to node ⌊i / channels⌋ % nodes: with several nodes
// every channel has subscribers on each of them.
const ports = cfg.ports ?? [cfg.port];
const conns = [];
let subscribed = 0;
const latencies = new Histogram();
const lag = monitorEventLoopDelay({ resolution: 2 });
lag.enable();

function open(i) {
  return new Promise((resolve, reject) => {
    const probe = cfg.probeEvery > 0 && i % cfg.probeEvery === 0;
    const port = ports[Math.floor(i / cfg.channels.length) % ports.length];
    const c = connect(`ws://127.0.0.1:${port}${proto.path}`, {
      wantPayload: true,
      onOpen: (api) => {
        proto.open(api, cfg, () => proto.subscribe(api, cfg.channels[i % cfg.channels.length], 1));
      },
      onFrame: (text) => {
        if (c.onText) return c.onText(text);
        if (!c.ready) {
          if (proto.ackOf(text) === 1) {
            c.ready = true;
            subscribed++;
            if (!probe) c.setWantPayload(false);
            resolve();
          } else if (/"t":"err"|^44/.test(text)) {
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
    c.socket.on('error', reject);
    c.socket.on('close', () => {
      if (!c.ready) reject(new Error('closed before subscribing'));
      else closed++;
    });
    conns.push(c);
  });
}
let closed = 0;

async function main() {
  // Up to 200 handshakes in flight at a time (more can overflow the server's accept backlog).
  let next = cfg.offset;
  const end = cfg.offset + cfg.count;
  const lane = async () => {
    while (next < end) await open(next++);
  };
  await Promise.all(Array.from({ length: Math.min(200, cfg.count) }, lane));
  process.send({ type: 'ready', subscribed });
  lag.reset();
  process.on('message', (m) => {
    if (m.type === 'count') {
      let frames = 0;
      for (const c of conns) frames += c.state.frames;
      const reply = {
        type: 'count',
        at: now(),
        frames,
        closed,
        lagP99: lag.percentile(99) / 1e6,
        lagMax: lag.max / 1e6,
        latencies: latencies.take(),
      };
      lag.reset();
      process.send(reply);
    } else if (m.type === 'exit') {
      for (const c of conns) c.close();
      process.exit(0);
    }
  });
}
main().catch((err) => {
  process.send({ type: 'error', message: err.message });
  process.exit(1);
});
