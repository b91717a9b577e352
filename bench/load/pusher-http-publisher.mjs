// A publisher that triggers through Pusher's HTTP API (`POST /apps/{app}/events`, signed), as a
// Laravel or pusher-http-node backend does: `window` requests in flight over as many keep-alive
// connections, each answered before the next goes out on it. Same IPC as publisher.mjs's flood
// (ready, start, stop → done); every event's data carries its publish time (`ts`) like the others.
import http from 'node:http';
import { now } from '../lib/rawws.mjs';
import { signedTrigger } from '../lib/pusher.mjs';

const cfg = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));
const pad = 'x'.repeat(Math.max(0, (cfg.payloadBytes ?? 100) - 40));
const window = cfg.window ?? 64;
const agent = new http.Agent({ keepAlive: true, maxSockets: window });
let stopAt = 0;
let published = 0;
let acked = 0;
let errors = 0;
let lastError = '';
let n = 0;

function trigger() {
  const channel = cfg.channels[n++ % cfg.channels.length];
  const [path, body] = signedTrigger(cfg.pusher, { name: 'm', channel, data: JSON.stringify({ ts: now(), p: pad }) });
  published++;
  return new Promise((resolve) => {
    const req = http.request({ agent, host: '127.0.0.1', port: cfg.port, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        if (res.statusCode === 200) acked++;
        else {
          errors++;
          lastError = `${res.statusCode} ${Buffer.concat(parts).toString().slice(0, 200)}`;
        }
        resolve();
      });
    });
    req.on('error', (err) => {
      errors++;
      lastError = err.message;
      resolve();
    });
    req.end(body);
  });
}

async function lane() {
  while (now() < stopAt) await trigger();
}

process.on('message', (m) => {
  if (m.type === 'start') {
    stopAt = now() + m.ms;
    for (let i = 0; i < window; i++) void lane();
  } else if (m.type === 'stop') {
    stopAt = 0;
    process.send({ type: 'done', published, acked, errors, lastError });
  }
});
process.send({ type: 'ready' });
