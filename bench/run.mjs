#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only fanout,memory]`: Hubbub against Socket.IO 4 and bare `ws`
// on the same workloads in the same run. Servers and load each run in their own processes.
import { fork, spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(here, '../packages/server/dist/cli/main.js');
const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const ONLY = args.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const SIGNING_KEY = 'bench-signing-key-0123456789abcdef';
const LOAD_PROCESSES = 2;
const S = QUICK
  ? { fanoutSubs: 2000, seconds: 3, manyConns: 2000, manyChannels: 200, memoryConns: 3000, ackSeconds: 2, rates: [250, 1000], redis: false }
  : { fanoutSubs: 2000, seconds: 8, manyConns: 10000, manyChannels: 1000, memoryConns: 15000, ackSeconds: 5, rates: [250, 500, 1000, 2000, 4000], redis: true };

const SERVERS = [
  { name: 'Hubbub', kind: 'hubbub' },
  { name: 'Socket.IO 4', kind: 'socketio', script: 'servers/socketio.mjs' },
  { name: 'ws (send per socket)', kind: 'ws', script: 'servers/ws-naive.mjs' },
  { name: 'ws (framed once, batched)', kind: 'ws-batched', script: 'servers/ws-batched.mjs' },
];

const progress = (text) => process.stderr.write(`\r\x1b[2K${text}`);
const log = (text) => process.stderr.write(`\r\x1b[2K${text}\n`);
const token = execFileSync(process.execPath, [CLI, 'devtoken', '--app', 'bench', '--client', 'load', '--ttl', '1d'], {
  env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY },
}).toString().trim();

async function startServer(server, extra = [], env = {}) {
  const argv = server.kind === 'hubbub'
    ? [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', mkdtempSync(join(tmpdir(), 'hubbub-bench-')), '--publish-rate', '10000000', '--max-connections', '100000', '--max-subscriptions', '10', ...extra]
    : [join(here, server.script)];
  const proc = spawn(process.execPath, argv, { env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /listening (?:on http:\/\/localhost:)?(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`${server.name} exited with ${code}`)));
  });
  return { proc, port, stop: () => new Promise((r) => (proc.exitCode !== null ? r() : (proc.once('exit', r), proc.kill('SIGKILL')))) };
}

function child(script, cfg) {
  const proc = fork(join(here, script), [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiters = [];
  proc.on('message', (m) => {
    if (m.type === 'error') throw new Error(`${script}: ${m.message}`);
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  return {
    proc,
    next: (type) => new Promise((resolve) => waiters.push({ type, resolve })),
    send: (m) => proc.send(m),
    kill: () => proc.kill('SIGKILL'),
  };
}

async function subscribers(server, port, count, channels, probeEvery = 0) {
  const per = Math.ceil(count / LOAD_PROCESSES);
  const procs = [];
  for (let i = 0; i < LOAD_PROCESSES; i++) {
    const n = Math.min(per, count - i * per);
    if (n <= 0) break;
    procs.push(child('load/subscribers.mjs', { kind: server.kind, port, token, count: n, offset: i * per, channels, probeEvery }));
  }
  await Promise.all(procs.map((p) => p.next('ready')));
  return {
    async count() {
      const replies = await Promise.all(procs.map((p) => (p.send({ type: 'count' }), p.next('count'))));
      return { frames: replies.reduce((a, r) => a + r.frames, 0), latencies: replies.flatMap((r) => r.latencies) };
    },
    close: () => procs.forEach((p) => p.kill()),
  };
}

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
function rssBytes(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}
const percentile = (xs, p) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] : NaN);
const channelNames = (n, prefix) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Deliveries per second while one publisher floods, and the server's CPU per million deliveries. */
async function throughput(server, subCount, channels, seconds, { nodes = 1 } = {}) {
  const srv = await startServer(server);
  try {
    const subs = await subscribers(server, srv.port, subCount, channels);
    const pub = child('load/publisher.mjs', { kind: server.kind, port: srv.port, token, channels, window: 64, payloadBytes: 100 });
    await pub.next('ready');
    const before = await subs.count();
    const cpu0 = cpuSeconds(srv.proc.pid);
    const t0 = Date.now();
    pub.send({ type: 'start', ms: seconds * 1000 });
    await pub.next('done');
    const after = await subs.count();
    const elapsed = (Date.now() - t0) / 1000;
    const deliveries = after.frames - before.frames;
    const cpu = cpuSeconds(srv.proc.pid) - cpu0;
    pub.kill();
    subs.close();
    return { deliveriesPerSecond: deliveries / elapsed, cpuPerMillion: (cpu / deliveries) * 1e6 };
  } finally {
    await srv.stop();
  }
}

/** Publish→ack latency at a fixed rate from many publishers (each channel with one subscriber). */
async function ackLatency(server, rate, publishers, seconds) {
  const srv = await startServer(server);
  try {
    const channels = channelNames(publishers, 'ack-');
    const subs = await subscribers(server, srv.port, publishers, channels);
    const pub = child('load/publisher.mjs', { kind: server.kind, port: srv.port, token, channels, mode: 'rate', rate, publishers, payloadBytes: 100 });
    await pub.next('ready');
    pub.send({ type: 'start', ms: seconds * 1000 });
    const done = await pub.next('done');
    pub.kill();
    subs.close();
    return { p50: done.p50, p99: done.p99, published: done.published };
  } finally {
    await srv.stop();
  }
}

/** The highest publish rate to 2000 subscribers whose end-to-end p99 stays under 50 ms. */
async function sustained(server, rates, seconds) {
  let best = { deliveriesPerSecond: 0, p50: NaN, p99: NaN };
  for (const rate of rates) {
    const srv = await startServer(server);
    try {
      const channels = ['sustained'];
      const subs = await subscribers(server, srv.port, S.fanoutSubs, channels, 50);
      const pub = child('load/publisher.mjs', { kind: server.kind, port: srv.port, token, channels, mode: 'rate', rate, publishers: 1, payloadBytes: 100 });
      await pub.next('ready');
      const before = await subs.count();
      const t0 = Date.now();
      pub.send({ type: 'start', ms: seconds * 1000 });
      await pub.next('done');
      const after = await subs.count();
      const elapsed = (Date.now() - t0) / 1000;
      pub.kill();
      subs.close();
      const lat = after.latencies;
      const p99 = percentile(lat, 0.99);
      const result = { rate, deliveriesPerSecond: (after.frames - before.frames) / elapsed, p50: percentile(lat, 0.5), p99 };
      progress(`  sustained ${server.name}: ${rate}/s → p99 ${p99.toFixed(1)} ms`);
      if (!(p99 < 50)) break;
      best = result;
    } finally {
      await srv.stop();
    }
  }
  return best;
}

/** Resident bytes per idle connection with one subscription. */
async function memory(server, conns) {
  const srv = await startServer(server);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const base = rssBytes(srv.proc.pid);
    const subs = await subscribers(server, srv.port, conns, channelNames(Math.ceil(conns / 10), 'idle-'));
    await new Promise((r) => setTimeout(r, 1500));
    const loaded = rssBytes(srv.proc.pid);
    subs.close();
    return { bytesPerConnection: (loaded - base) / conns };
  } finally {
    await srv.stop();
  }
}

const results = [];
function record(workload, server, metrics) {
  results.push({ workload, server: server.name, ...metrics });
}

async function main() {
  const machine = `${cpus().length} × ${cpus()[0].model.trim()}, Node ${process.version}`;
  log(`hubbub bench${QUICK ? ' (quick)' : ''} on ${machine}`);
  const want = (w) => !ONLY || ONLY.includes(w);
  for (const server of SERVERS) {
    if (want('fanout')) {
      progress(`fan-out: ${server.name}…`);
      record('fan-out (2000 subs, 1 channel)', server, await throughput(server, S.fanoutSubs, ['fanout'], S.seconds));
    }
    if (want('channels')) {
      progress(`many channels: ${server.name}…`);
      record(`many channels (${S.manyConns} conns, ${S.manyChannels} channels)`, server, await throughput(server, S.manyConns, channelNames(S.manyChannels, 'room-'), S.seconds));
    }
    if (want('sustained')) {
      progress(`sustained rate: ${server.name}…`);
      record('sustained (p99 < 50 ms)', server, await sustained(server, S.rates, S.seconds));
    }
    if (want('ack')) {
      progress(`publish→ack: ${server.name}…`);
      record('publish→ack at 5000/s (100 publishers)', server, await ackLatency(server, 5000, 100, S.ackSeconds));
    }
    if (want('memory')) {
      progress(`memory: ${server.name}…`);
      record(`memory (${S.memoryConns} idle conns)`, server, await memory(server, S.memoryConns));
    }
  }
  report(machine);
}

function report(machine) {
  const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d }) : '–');
  const rows = [];
  const workloads = [...new Set(results.map((r) => r.workload))];
  for (const w of workloads) {
    const sio = results.find((r) => r.workload === w && r.server === 'Socket.IO 4');
    for (const r of results.filter((x) => x.workload === w)) {
      const ratio = r.deliveriesPerSecond && sio?.deliveriesPerSecond ? r.deliveriesPerSecond / sio.deliveriesPerSecond
        : r.p99 && sio?.p99 ? sio.p99 / r.p99
        : r.bytesPerConnection && sio?.bytesPerConnection ? sio.bytesPerConnection / r.bytesPerConnection : NaN;
      rows.push(`| ${w} | ${r.server} | ${fmt(r.deliveriesPerSecond)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpuPerMillion, 2)} | ${fmt(r.bytesPerConnection)} | ${fmt(ratio, 1)}× |`);
    }
  }
  const table = [
    `Machine: ${machine}. ${QUICK ? 'Quick run.' : 'Full run.'} ${new Date().toISOString()}`,
    '',
    '| workload | server | deliveries/s | p50 ms | p99 ms | CPU s / M deliveries | bytes / conn | vs Socket.IO |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  process.stderr.write('\r\x1b[2K');
  console.log(table);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results/latest.md'), `${table}\n`);
  writeFileSync(join(here, 'results/latest.json'), JSON.stringify({ machine, quick: QUICK, at: new Date().toISOString(), results }, null, 2));
  writeFileSync(join(here, 'results/latest.svg'), chart());
  log(`written: bench/results/latest.{md,json,svg}`);
}

/** Bars of deliveries/s per server for each throughput workload. */
function chart() {
  const groups = [...new Set(results.filter((r) => r.deliveriesPerSecond).map((r) => r.workload))];
  const colors = ['#4b5bdc', '#e0833a', '#8a93a6', '#1fa67a'];
  const width = 760;
  const rowH = 22;
  const bars = [];
  let y = 30;
  const max = Math.max(...results.map((r) => r.deliveriesPerSecond || 0), 1);
  for (const g of groups) {
    bars.push(`<text x="10" y="${y}" font-size="13" font-weight="600">${g}</text>`);
    y += 8;
    results.filter((r) => r.workload === g).forEach((r) => {
      const i = SERVERS.findIndex((s) => s.name === r.server);
      const w = (r.deliveriesPerSecond / max) * (width - 330);
      bars.push(`<text x="10" y="${y + 15}" font-size="12">${r.server}</text><rect x="190" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colors[i]}"/><text x="${(195 + w).toFixed(1)}" y="${y + 15}" font-size="12">${Math.round(r.deliveriesPerSecond).toLocaleString('en-US')}/s</text>`);
      y += rowH;
    });
    y += 18;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="system-ui, sans-serif"><rect width="100%" height="100%" fill="white"/>${bars.join('')}</svg>\n`;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
