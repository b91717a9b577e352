// A load process: opens many cheap connections, subscribes each to a channel, then counts what arrives.
// Talks to the orchestrator over IPC. Latency probes (every Nth connection) read payload timestamps.
import { connect } from '../lib/rawws.mjs';
import { protocols } from '../lib/protocols.mjs';

const cfg = JSON.parse(process.argv[2]);
const proto = protocols[cfg.kind];
const conns = [];
let subscribed = 0;
const latencies = [];

function open(i) {
  return new Promise((resolve, reject) => {
    const probe = cfg.probeEvery > 0 && i % cfg.probeEvery === 0;
    const c = connect(`ws://127.0.0.1:${cfg.port}${proto.path}`, {
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
          }
          return;
        }
        if (probe) {
          const m = /"ts":(\d+(?:\.\d+)?)/.exec(text);
          if (m) latencies.push(Date.now() - Number(m[1]));
        }
      },
    });
    c.socket.on('error', reject);
    c.socket.on('close', () => {
      if (!c.ready) reject(new Error('closed before subscribing'));
    });
    conns.push(c);
  });
}

async function main() {
  for (let i = cfg.offset; i < cfg.offset + cfg.count; i += 250) {
    const batch = [];
    for (let j = i; j < Math.min(cfg.offset + cfg.count, i + 250); j++) batch.push(open(j));
    await Promise.all(batch);
  }
  process.send({ type: 'ready', subscribed });
  process.on('message', (m) => {
    if (m.type === 'count') {
      let frames = 0;
      for (const c of conns) frames += c.state.frames;
      process.send({ type: 'count', frames, latencies: latencies.splice(0) });
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
