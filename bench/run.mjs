#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --runs 3] [-- --only fanout,redis] [-- --servers hubbub,ws-batched]`:
// Hubbub against Socket.IO 4 and bare `ws` on the same workloads in the same run. Servers, Redis and
// load each run in their own processes; every workload is repeated --runs times (servers taking turns)
// and the table shows medians. See bench/README.md for what each workload measures and how.
import { fork, spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { summarize } from './lib/hist.mjs';
import { pusherCredentials } from './lib/pusher.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(here, '../packages/server/dist/cli/main.js');
const WORKLOADS = ['fanout', 'pusher', 'channels', 'sustained', 'ack', 'memory', 'redis'];

function options(argv) {
  const value = (name) => {
    const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    return argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`Usage: npm run bench [-- options]

  --quick            short run (under 2 minutes): fewer connections, shorter windows, 1 run
  --runs N           repeat each workload N times and report medians (default 3; 1 with --quick)
  --only LIST        workloads to run, comma-separated: ${WORKLOADS.join(', ')}
  --servers LIST     servers to run: hubbub, socketio, ws, ws-batched (ratios need socketio)
  --seconds N        measured window per step (default 8; 2 with --quick)
  --load-procs N     subscriber processes per workload (default 2)
  --rates LIST       publish rates tried by the sustained workload, e.g. 250,500,1000
  --pin              diagnosis: servers and Redis on CPU 0, load processes on the other CPUs (taskset),
                     to see whether the server or the load generator runs out of CPU first
  --out NAME         write bench/results/NAME.{md,json,svg} (default latest)`);
    process.exit(0);
  }
  const quick = argv.includes('--quick');
  const only = value('only')?.split(',');
  for (const w of only ?? []) if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w}; one of ${WORKLOADS.join(', ')}`);
  return {
    quick,
    runs: Number(value('runs') ?? (quick ? 1 : 3)),
    only,
    servers: value('servers')?.split(','),
    seconds: Number(value('seconds') ?? (quick ? 2 : 8)),
    loadProcs: Number(value('load-procs') ?? 2),
    rates: value('rates')?.split(',').map(Number),
    pin: argv.includes('--pin'),
    out: value('out') ?? 'latest',
  };
}
const O = options(process.argv.slice(2));
const SIGNING_KEY = 'bench-signing-key-0123456789abcdef';
const S = O.quick
  ? { fanoutSubs: 2000, manyConns: 2000, manyChannels: 200, memoryConns: 2000, warmupMs: 300, rates: [10, 50], ackRate: 5000, ackPublishers: 100, oneNodeRedis: false }
  : { fanoutSubs: 2000, manyConns: 10000, manyChannels: 1000, memoryConns: 15000, warmupMs: 1500, rates: [5, 10, 25, 50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 4000], ackRate: 5000, ackPublishers: 100, oneNodeRedis: true };

const HUBBUB = { name: 'Hubbub', kind: 'hubbub' };
// Many channels and scale-out: many publisher connections with a few publishes in flight each (a
// server may handle one connection's frames one after another, e.g. waiting on Redis for each).
const MANY_PUBLISHERS = { publishers: Number(process.env.BENCH_PUBLISHERS ?? 16), window: Number(process.env.BENCH_WINDOW ?? 16) };
const SERVERS = [
  HUBBUB,
  { name: 'Socket.IO 4', kind: 'socketio', script: 'servers/socketio.mjs' },
  { name: 'ws (send per socket)', kind: 'ws', script: 'servers/ws-naive.mjs' },
  { name: 'ws (framed once, batched)', kind: 'ws-batched', script: 'servers/ws-batched.mjs' },
].filter((s) => !O.servers || O.servers.includes(s.kind));
const SIO = 'Socket.IO 4';
const BATCHED = 'ws (framed once, batched)';
const ONE_NODE = 'Hubbub, 1 node (in-memory engine)';
const ONE_NODE_REDIS = 'Hubbub, 1 node + Redis';
const TWO_NODES = 'Hubbub, 2 nodes + Redis';
// The Pusher rows: Hubbub with Pusher-protocol subscribers, published to natively or through Pusher's HTTP API.
const PUSHER_NATIVE = 'Hubbub, Pusher subs, native publisher';
const PUSHER_HTTP = 'Hubbub, Pusher subs, HTTP API publisher';

const progress = (text) => process.stderr.write(`\r\x1b[2K${text}`);
const log = (text) => process.stderr.write(`\r\x1b[2K${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const token = execFileSync(process.execPath, [CLI, 'devtoken', '--app', 'bench', '--client', 'load', '--ttl', '1d'], {
  env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY },
}).toString().trim();

// Every process started here, so that none outlives the bench (also on errors and Ctrl-C).
const children = new Set();
const CPU_COUNT = cpus().length;
function track(proc, role) {
  children.add(proc);
  // --pin: the servers under test get CPU 0 to themselves (as far as this bench goes), load gets the rest.
  if (O.pin && CPU_COUNT > 1 && proc.pid) {
    const list = role === 'server' ? '0' : `1-${CPU_COUNT - 1}`;
    try {
      execFileSync('taskset', ['-a', '-p', '-c', list, String(proc.pid)], { stdio: 'ignore' });
    } catch {
      log(`taskset failed for ${proc.pid}`);
    }
  }
  proc.once('exit', () => children.delete(proc));
  return proc;
}
process.on('exit', () => {
  for (const p of children) p.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function waitForLine(proc, re, what) {
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = re.exec(line);
      if (m) resolve(m);
    });
    proc.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

function stopper(proc) {
  return () => new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : (proc.once('exit', r), proc.kill('SIGKILL'))));
}

/**
 * A server under test. With `pusherKey` (Hubbub only), an API key of the bench's app made in its data
 * dir first by `hubbub keys create`, returned as Pusher credentials (`pusher`: appId, key, secret).
 */
async function startServer(server, extra = [], { pusherKey = false } = {}) {
  let dataDir;
  let pusher;
  if (server.kind === 'hubbub') dataDir = mkdtempSync(join(tmpdir(), 'hubbub-bench-'));
  if (pusherKey) {
    if (!dataDir) throw new Error(`${server.name} has no Pusher keys`);
    pusher = pusherCredentials(execFileSync(process.execPath, [CLI, 'keys', 'create', '--app', 'bench', '--data-dir', dataDir]).toString());
  }
  const argv = server.kind === 'hubbub'
    ? [CLI, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--publish-rate', '10000000', '--max-connections', '100000', '--max-subscriptions', '10', ...extra, ...(process.env.BENCH_HUBBUB_ARGS?.split(' ').filter(Boolean) ?? [])]
    : [join(here, server.script)];
  const proc = track(spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_OPTIONS?.split(' ').filter(Boolean) ?? []), ...argv], {
    env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  }), 'server');
  // BENCH_SERVER_LOG=1 passes the server's output through (e.g. with --trace-gc in BENCH_SERVER_NODE_OPTIONS).
  if (process.env.BENCH_SERVER_LOG) createInterface({ input: proc.stdout }).on('line', (line) => process.stderr.write(`[${server.name} ${proc.pid}] ${line}\n`));
  const m = await waitForLine(proc, /listening (?:on http:\/\/localhost:)?(\d+)/, server.name);
  const stop = stopper(proc);
  return {
    proc,
    port: Number(m[1]),
    pusher,
    stop: async () => {
      // SIGTERM when profiling, so that --cpu-prof gets to write its profile.
      if (process.env.BENCH_SERVER_NODE_OPTIONS?.includes('--cpu-prof') && proc.exitCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(5000)]);
      }
      await stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A private, non-persistent redis-server on a free port, for the two-node workload. */
async function startRedis() {
  const port = await freePort();
  const proc = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'inherit'] }), 'server');
  proc.on('error', (err) => log(`redis-server: ${err.message}`));
  await Promise.race([
    waitForLine(proc, /Ready to accept connections/, 'redis-server'),
    (async () => {
      // With --loglevel warning the ready line is not printed: poll the port instead.
      for (let i = 0; i < 100; i++) {
        if (await canConnect(port)) return;
        await sleep(50);
      }
      throw new Error('redis-server did not start');
    })(),
  ]);
  return { proc, url: `redis://127.0.0.1:${port}`, stop: stopper(proc) };
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

function child(script, cfg) {
  const proc = track(fork(join(here, script), [JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), 'load');
  const waiters = [];
  let failed;
  proc.on('message', (m) => {
    if (m.type === 'error') {
      failed = new Error(`${script}: ${m.message}`);
      for (const w of waiters.splice(0)) w.reject(failed);
      return;
    }
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  proc.once('exit', (code, signal) => {
    if (signal === 'SIGKILL') return;
    failed ??= new Error(`${script} exited with ${code}`);
    for (const w of waiters.splice(0)) w.reject(failed);
  });
  return {
    proc,
    next: (type) => (failed ? Promise.reject(failed) : new Promise((resolve, reject) => waiters.push({ type, resolve, reject }))),
    send: (m) => proc.send(m),
    kill: () => proc.kill('SIGKILL'),
  };
}

/**
 * Subscriber processes. Connection i takes channel i % channels and node ⌊i / channels⌋ % ports.
 * Bulk connections go to --load-procs processes in alternating runs of 50; latency probes (every
 * `probeEvery`-th connection) to a process of their own that reads nothing else. Connections are
 * opened in steps of 500 indices across all processes, so that the server sees them in about index
 * order and the probes sit spread through each channel's subscriber list, not all at one end.
 */
async function subscribers(server, ports, count, channels, probeEvery = 0, extra = {}) {
  const bulk = Array.from({ length: O.loadProcs }, () => []);
  const probes = [];
  for (let i = 0; i < count; i++) {
    if (probeEvery > 0 && i % probeEvery === 0) probes.push(i);
    else bulk[Math.floor(i / 50) % O.loadProcs].push(i);
  }
  const procs = [...bulk.map((indices) => ({ indices, probes: false })), { indices: probes, probes: true }]
    .filter((p) => p.indices.length > 0)
    .map((p) => child('load/subscribers.mjs', { kind: server.kind, ports, token, channels, ...extra, ...p }));
  const t0 = performance.now();
  await Promise.all(procs.map((p) => p.next('ready')));
  for (let upTo = 500; upTo < count + 500; upTo += 500) {
    await Promise.all(procs.map((p) => (p.send({ type: 'open', upTo }), p.next('opened'))));
    progress(`  ${fmt(Math.min(upTo, count))}/${fmt(count)} subscribers`);
  }
  if (process.env.BENCH_DEBUG) log(`  ${count} subscribers ready in ${fmt(performance.now() - t0)} ms`);
  return {
    pids: procs.map((p) => p.proc.pid),
    /** Frames so far, each process's own clock, its event-loop lag and its latency samples since the last snapshot. */
    snapshot: () => Promise.all(procs.map((p) => (p.send({ type: 'count' }), p.next('count')))),
    close: () => procs.forEach((p) => p.kill()),
  };
}

/** Deliveries per second between two snapshots, each process timed by its own clock. */
function windowRate(s0, s1) {
  return s1.reduce((sum, r, i) => sum + (r.frames - s0[i].frames) / ((r.at - s0[i].at) / 1000), 0);
}
/** Event-loop lag of the load processes: the worst of all, and that of the probe process (which times latency). */
const loadLag = (snap) => {
  const probe = snap.filter((r) => r.probes);
  return {
    p99: Math.max(...snap.map((r) => r.lagP99)),
    max: Math.max(...snap.map((r) => r.lagMax)),
    ...(probe.length ? { probeP99: Math.max(...probe.map((r) => r.lagP99)) } : {}),
  };
};

// CPU time from /proc, per group of processes (server, redis, subscribers, publishers).
const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}
/** Busy CPU seconds of the whole machine (all cores), from the first line of /proc/stat. */
function machineSeconds() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / TICK;
}
function cpuSample(groups) {
  return { at: performance.now(), machine: machineSeconds(), s: Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids.reduce((a, p) => a + cpuSeconds(p), 0)])) };
}
/** Cores busy per group between two samples; `other` is everything else on the machine (noise). */
function coresBetween(a, b) {
  const dt = (b.at - a.at) / 1000;
  const out = Object.fromEntries(Object.keys(a.s).map((k) => [k, (b.s[k] - a.s[k]) / dt]));
  out.other = Math.max(0, (b.machine - a.machine) / dt - Object.values(out).reduce((x, y) => x + y, 0));
  return out;
}
function rssBytes(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}
const channelNames = (n, prefix) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/**
 * Flood: publisher connections keep 64 publishes in flight each; deliveries/s counted by the
 * subscribers over a window after a warm-up, with the CPU each group of processes used in that window.
 * With `nodes` > 1 (Hubbub only) the nodes share a private Redis, subscribers are spread so that every
 * channel has some on each node, and each node has its own publisher process with its share of the
 * publisher connections: half of all deliveries cross nodes.
 */
async function flood(server, subCount, channels, { nodes = 1, redis = false, publishers = 1, window = 64, subKind = server.kind, httpPublisher = false } = {}) {
  const cleanup = [];
  const t0 = performance.now();
  const mark = (what) => process.env.BENCH_DEBUG && log(`  ${what} at ${fmt(performance.now() - t0)} ms`);
  try {
    const rs = redis ? await startRedis() : undefined;
    if (rs) cleanup.push(rs.stop);
    const srvs = [];
    for (let k = 0; k < nodes; k++) {
      const srv = await startServer(server, rs ? ['--redis', rs.url] : [], { pusherKey: subKind === 'pusher' || httpPublisher });
      cleanup.unshift(srv.stop);
      srvs.push(srv);
    }
    const ports = srvs.map((s) => s.port);
    mark('servers up');
    // Publishers connect while the subscribers do; they only start publishing when told.
    // Pusher subscribers (`subKind`) and HTTP API publishers sign with the key made in the node's data dir.
    const pusher = srvs[0].pusher;
    const pubs = ports.map((port) => httpPublisher
      ? child('load/pusher-http-publisher.mjs', { port, pusher, channels, window, payloadBytes: 100 })
      : child('load/publisher.mjs', { kind: server.kind, port, token, channels, window, publishers: Math.ceil(publishers / nodes), payloadBytes: 100 }));
    cleanup.unshift(() => pubs.forEach((p) => p.kill()));
    const pubsReady = Promise.all(pubs.map((p) => p.next('ready')));
    const subs = await subscribers(server, ports, subCount, channels, 0, { kind: subKind, pusher });
    cleanup.unshift(subs.close);
    mark('subscribers ready');
    await pubsReady;
    mark('publishers ready');
    const groups = {
      ...Object.fromEntries(srvs.map((s, k) => [nodes > 1 ? `node${k + 1}` : 'server', [s.proc.pid]])),
      ...(rs ? { redis: [rs.proc.pid] } : {}),
      subscribers: subs.pids,
      publishers: pubs.map((p) => p.proc.pid),
    };
    const windowMs = O.seconds * 1000;
    // Publishing runs from the start until stopped right after the measured window (the time limit
    // is only a backstop).
    for (const p of pubs) p.send({ type: 'start', ms: S.warmupMs + windowMs + 60_000 });
    await sleep(S.warmupMs);
    const [s0, c0] = [await subs.snapshot(), cpuSample(groups)];
    await sleep(windowMs);
    const [s1, c1] = [await subs.snapshot(), cpuSample(groups)];
    const finals = await Promise.all(pubs.map((p) => (p.send({ type: 'stop' }), p.next('done'))));
    const errors = finals.reduce((a, f) => a + f.errors, 0);
    if (errors) log(`  ${server.name}: ${errors} publishes refused (${finals.find((f) => f.lastError)?.lastError})`);
    const deliveriesPerSecond = windowRate(s0, s1);
    const cores = coresBetween(c0, c1);
    const serverCores = Object.entries(cores).filter(([k]) => k === 'server' || k.startsWith('node') || k === 'redis').reduce((a, [, v]) => a + v, 0);
    const closed = s1.reduce((a, r) => a + r.closed, 0);
    if (closed) log(`  ${server.name}: ${closed} subscribers were disconnected during the run`);
    // With every channel's subscribers spread evenly over the nodes, a message reaches (nodes - 1) / nodes
    // of its subscribers through another node, whichever node it was published on.
    const crossNode = nodes > 1 ? { crossNodeDeliveriesPerSecond: (deliveriesPerSecond * (nodes - 1)) / nodes } : {};
    return { deliveriesPerSecond, ...crossNode, cpuPerMillion: (serverCores / deliveriesPerSecond) * 1e6, cores, loadLag: loadLag(s1), errors, closed };
  } finally {
    mark('measured');
    for (const f of cleanup) await f();
    mark('stopped');
  }
}

/** Publish→ack latency at a fixed total rate from many publishers (each channel with one subscriber). */
async function ackLatency(server, rate, publishers, procs = 1) {
  const srv = await startServer(server);
  try {
    const channels = channelNames(publishers, 'ack-');
    // `procs` publisher processes, each with its share of the connections (and their channels) and of the rate.
    const pubs = Array.from({ length: procs }, (_, k) => {
      const mine = channels.filter((_, i) => i % procs === k);
      return child('load/publisher.mjs', { kind: server.kind, port: srv.port, token, channels: mine, mode: 'rate', publishers: mine.length, payloadBytes: 100 });
    });
    const pubsReady = Promise.all(pubs.map((p) => p.next('ready')));
    let subs;
    try {
      subs = await subscribers(server, [srv.port], publishers, channels, 1);
      await pubsReady;
      const groups = { server: [srv.proc.pid], subscribers: subs.pids, publishers: pubs.map((p) => p.proc.pid) };
      const done = Promise.all(pubs.map((p) => p.next('done')));
      for (const p of pubs) p.send({ type: 'start', rate: rate / procs, ms: S.warmupMs + O.seconds * 1000, warmupMs: S.warmupMs });
      await sleep(S.warmupMs);
      const c0 = cpuSample(groups);
      await subs.snapshot(); // drops the warm-up's end-to-end samples
      const rs = await done;
      const [s1, c1] = [await subs.snapshot(), cpuSample(groups)];
      const acks = summarize(rs.map((r) => r.acks));
      const e2e = summarize(s1.map((x) => x.latencies));
      const errors = rs.reduce((a, r) => a + r.errors, 0);
      if (errors) log(`  ${server.name}: ${errors} publishes refused (${rs.find((r) => r.lastError)?.lastError})`);
      const publisherLagP99 = Math.max(...rs.map((r) => r.lagP99));
      const worst = [];
      for (const r of rs) r.worstBy100ms.forEach((x, i) => (worst[i] = Math.max(worst[i] ?? 0, x)));
      return {
        p50: acks.p50, p99: acks.p99, ackP999: acks.p999, ackMax: acks.max, acked: acks.n,
        published: rs.reduce((a, r) => a + r.published, 0), unacked: rs.reduce((a, r) => a + r.unacked, 0),
        e2eP50: e2e.p50, e2eP99: e2e.p99, worstAckBy100ms: worst,
        cores: coresBetween(c0, c1),
        loadLag: { p99: Math.max(publisherLagP99, loadLag(s1).p99), max: Math.max(...rs.map((r) => r.lagMax), loadLag(s1).max) },
        publisherLagP99,
      };
    } finally {
      for (const p of pubs) p.kill();
      subs?.close();
    }
  } finally {
    await srv.stop();
  }
}

/**
 * The highest publish rate to 2000 subscribers of one channel whose end-to-end p99 stays under 50 ms.
 * One server and one set of subscribers for the whole ladder of rates; each step has its warm-up
 * and its own measured window. Stops at the first step that misses (or loses subscribers).
 */
async function sustained(server, rates) {
  const srv = await startServer(server);
  const steps = [];
  try {
    const subs = await subscribers(server, [srv.port], S.fanoutSubs, ['sustained'], 50);
    const pub = child('load/publisher.mjs', { kind: server.kind, port: srv.port, token, channels: ['sustained'], mode: 'rate', publishers: 1, payloadBytes: 100 });
    try {
      await pub.next('ready');
      const groups = { server: [srv.proc.pid], subscribers: subs.pids, publishers: [pub.proc.pid] };
      for (const rate of rates) {
        const done = pub.next('done');
        pub.send({ type: 'start', rate, ms: S.warmupMs + O.seconds * 1000 + 200 });
        await sleep(S.warmupMs);
        const [s0, c0] = [await subs.snapshot(), cpuSample(groups)];
        // One snapshot a second: latency that climbs second after second is a backlog (offered load
        // above capacity somewhere); latency that is high but flat is a fixed delay.
        const seconds = [];
        const snaps = [];
        let s1;
        for (let t = 0; t < O.seconds; t++) {
          await sleep(1000);
          snaps.push((s1 = await subs.snapshot()));
          seconds.push(s1.map((x) => x.latencies));
        }
        const c1 = cpuSample(groups);
        const r = await done;
        const lat = summarize(seconds.flat());
        const trend = seconds.map((h) => summarize(h).p50);
        const deliveriesPerSecond = windowRate(s0, s1);
        const closed = s1.reduce((a, x) => a + x.closed, 0);
        const cores = coresBetween(c0, c1);
        const step = {
          rate, deliveriesPerSecond, expected: rate * S.fanoutSubs, p50: lat.p50, p99: lat.p99, max: lat.max, samples: lat.n, closed,
          cores, cpuPerMillion: (cores.server / deliveriesPerSecond) * 1e6, loadLag: loadLag(snaps.flat()), publisherLagP99: r.lagP99, p50BySecond: trend,
        };
        step.ok = step.p99 < 50 && closed === 0 && deliveriesPerSecond > 0.9 * step.expected;
        steps.push(step);
        progress(`  sustained ${server.name}: ${rate}/s → ${fmt(deliveriesPerSecond)} deliveries/s, p99 ${fmt(lat.p99, 1)} ms, load lag p99 ${fmt(step.loadLag.p99, 1)} ms (probes ${fmt(step.loadLag.probeP99, 1)} ms), p50 by second ${trend.map((x) => fmt(x, 0)).join(' ')} ms, cores ${coresText(cores)}`);
        log('');
        if (!step.ok) break;
        await sleep(300);
      }
    } finally {
      pub.kill();
      subs.close();
    }
  } finally {
    await srv.stop();
  }
  const best = steps.filter((s) => s.ok).at(-1);
  const miss = steps.find((s) => !s.ok);
  return {
    ...(best ?? { deliveriesPerSecond: 0 }),
    // The first step that missed, flattened so that medians over runs can be taken.
    ...(miss ? { missRate: miss.rate, missDeliveriesPerSecond: miss.deliveriesPerSecond, missP50: miss.p50, missP99: miss.p99, missCores: miss.cores, missLoadLag: miss.loadLag } : {}),
    steps,
  };
}

/** Resident bytes per idle connection with one subscription. */
async function memory(server, conns) {
  const srv = await startServer(server);
  try {
    await sleep(O.quick ? 300 : 500);
    const base = rssBytes(srv.proc.pid);
    const subs = await subscribers(server, [srv.port], conns, channelNames(Math.ceil(conns / 10), 'idle-'));
    await sleep(O.quick ? 700 : 1500);
    const loaded = rssBytes(srv.proc.pid);
    subs.close();
    return { bytesPerConnection: (loaded - base) / conns };
  } finally {
    await srv.stop();
  }
}

const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
const fmtRate = (n) => (n >= 1e6 ? `${fmt(n / 1e6, 2)}M` : n >= 1e3 ? `${fmt(n / 1e3, 0)}k` : fmt(n));
const coresText = (c) => (c ? Object.entries(c).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ') : '');

/** All runs of one row, and their medians. */
const rows = new Map();
function record(workload, key, server, run, metrics) {
  const id = `${workload}\u0000${server}`;
  if (!rows.has(id)) rows.set(id, { workload, key, server, runs: [] });
  rows.get(id).runs.push({ run, ...metrics });
}
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
function medians(runs) {
  const out = {};
  for (const k of new Set(runs.flatMap((r) => Object.keys(r)))) {
    if (k === 'run' || k === 'steps' || k === 'firstMiss') continue;
    const vals = runs.map((r) => r[k]);
    if (vals.every((v) => typeof v === 'number' || v === undefined)) out[k] = median(vals);
    else if (vals.every((v) => v && typeof v === 'object')) out[k] = medians(vals);
  }
  return out;
}

async function main() {
  const machine = `${cpus().length} × ${cpus()[0].model.trim()}, Node ${process.version}`;
  const started = performance.now();
  log(`hubbub bench${O.quick ? ' (quick)' : ''} on ${machine}: ${O.runs} run${O.runs > 1 ? 's' : ''} of each workload, medians reported`);
  const want = (w) => !O.only || O.only.includes(w);
  const say = (run, label, text) => log(`[${run}/${O.runs}] ${label}: ${text}`);
  const many = `many channels (${S.manyConns} conns, ${S.manyChannels} channels)`;
  const plan = [
    want('fanout') && {
      key: 'fanout', label: `fan-out (${S.fanoutSubs} subs, 1 channel)`, each: SERVERS,
      run: (s) => flood(s, S.fanoutSubs, ['fanout']),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s · cores ${coresText(r.cores)} · load lag p99 ${fmt(r.loadLag.p99, 1)} ms`,
    },
    // The fan-out workload with Pusher-protocol subscribers on the same server; compared with the
    // fanout row's Hubbub in the same run (run both: --only fanout,pusher).
    want('pusher') && SERVERS.includes(HUBBUB) && {
      key: 'pusher', label: `Pusher fan-out (${S.fanoutSubs} Pusher subs, 1 channel)`,
      each: [
        { name: PUSHER_NATIVE, opts: { subKind: 'pusher' } },
        { name: PUSHER_HTTP, opts: { subKind: 'pusher', httpPublisher: true } },
      ],
      run: (c) => flood(HUBBUB, S.fanoutSubs, ['fanout'], c.opts),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s · cores ${coresText(r.cores)} · load lag p99 ${fmt(r.loadLag.p99, 1)} ms${r.errors ? ` · ${fmt(r.errors)} publishes refused` : ''}`,
    },
    want('channels') && {
      key: 'channels', label: many, each: SERVERS,
      run: (s) => flood(s, S.manyConns, channelNames(S.manyChannels, 'room-'), MANY_PUBLISHERS),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s · cores ${coresText(r.cores)} · load lag p99 ${fmt(r.loadLag.p99, 1)} ms`,
    },
    want('sustained') && {
      key: 'sustained', label: `sustained (${S.fanoutSubs} subs, p99 < 50 ms)`, each: SERVERS,
      run: (s) => sustained(s, O.rates ?? S.rates),
      say: (r) => r.steps.map((x) => `${x.rate}/s ${x.ok ? '✓' : '✗'} ${fmtRate(x.deliveriesPerSecond)} deliveries/s p50 ${fmt(x.p50, 1)} p99 ${fmt(x.p99, 1)} ms`).join(' · ') +
        (Number.isFinite(r.missRate) ? ` (at ${r.missRate}/s: cores ${coresText(r.missCores)}, probe lag p99 ${fmt(r.missLoadLag.probeP99, 1)} ms, bulk load lag p99 ${fmt(r.missLoadLag.p99, 1)} ms)` : ' (every step passed)'),
    },
    want('ack') && {
      key: 'ack', label: `publish→ack at ${S.ackRate}/s (${S.ackPublishers} publishers)`, each: SERVERS,
      run: (s) => ackLatency(s, S.ackRate, S.ackPublishers, Number(process.env.BENCH_ACK_PROCS ?? 1)),
      say: (r) => `ack p50 ${fmt(r.p50, 2)} / p99 ${fmt(r.p99, 2)} / max ${fmt(r.ackMax, 1)} ms (${fmt(r.acked)} acked) · e2e p99 ${fmt(r.e2eP99, 2)} ms · publisher lag p99 ${fmt(r.publisherLagP99, 1)} ms · cores ${coresText(r.cores)}`,
    },
    want('memory') && {
      key: 'memory', label: `memory (${S.memoryConns} idle conns, 1 subscription each)`, each: SERVERS,
      run: (s) => memory(s, S.memoryConns),
      say: (r) => `${fmt(r.bytesPerConnection)} bytes/conn`,
    },
    want('redis') && {
      key: 'redis', label: `${many.replace('many channels', 'scale-out')}`,
      each: [
        { name: ONE_NODE, opts: {} },
        ...(S.oneNodeRedis ? [{ name: ONE_NODE_REDIS, opts: { redis: true } }] : []),
        { name: TWO_NODES, opts: { nodes: 2, redis: true } },
      ],
      run: (c) => flood(HUBBUB, S.manyConns, channelNames(S.manyChannels, 'room-'), { ...MANY_PUBLISHERS, ...c.opts }),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s${r.crossNodeDeliveriesPerSecond ? ` (${fmt(r.crossNodeDeliveriesPerSecond)}/s cross-node)` : ''} · cores ${coresText(r.cores)} · load lag p99 ${fmt(r.loadLag.p99, 1)} ms`,
    },
  ].filter(Boolean);
  for (const w of plan) {
    for (let run = 1; run <= O.runs; run++) {
      for (const s of w.each) {
        progress(`[${run}/${O.runs}] ${w.label}: ${s.name}…`);
        const t0 = performance.now();
        const r = await w.run(s);
        record(w.label, w.key, s.name, run, r);
        say(run, `${w.label} · ${s.name}`, `${w.say(r)} (${fmt((performance.now() - t0) / 1000, 1)} s)`);
      }
    }
  }
  report(machine, (performance.now() - started) / 1000);
}

/** Whether the row meets the issue's target, e.g. "≥20× SIO ✓". Targets are stated for Hubbub. */
function target(row, find) {
  const m = row.median;
  const mark = (ok) => (ok ? '✓' : '✗');
  switch (row.key) {
    case 'fanout': {
      if (row.server !== HUBBUB.name) return '';
      const sio = find(SIO)?.median.deliveriesPerSecond;
      const ws = find(BATCHED)?.median.deliveriesPerSecond;
      return [
        sio ? `≥20× SIO ${mark(m.deliveriesPerSecond >= 20 * sio)}` : '≥20× SIO: not run',
        ws ? `≥60% batched ws ${mark(m.deliveriesPerSecond >= 0.6 * ws)} (${fmt((100 * m.deliveriesPerSecond) / ws)}%)` : '≥60% batched ws: not run',
      ].join(' · ');
    }
    case 'sustained':
      return row.server === HUBBUB.name ? `≥1M/s at p99 < 50 ms ${mark(m.deliveriesPerSecond >= 1e6)}` : '';
    case 'ack': {
      if (row.server !== HUBBUB.name) return '';
      // Batched ws does next to nothing per publish: its p99 is about what the load generator and
      // the kernel add, the floor under any server's number here.
      const floor = find(BATCHED)?.median.p99;
      return `p99 < 5 ms ${mark(m.p99 < 5)}${Number.isFinite(floor) ? ` (floor: batched ws ${fmt(floor, 1)} ms)` : ''}`;
    }
    case 'memory':
      return row.server === HUBBUB.name ? `≤ 8 KiB ${mark(m.bytesPerConnection <= 8192)}` : '';
    case 'redis': {
      if (row.server !== TWO_NODES) return '';
      const one = find(ONE_NODE)?.median.deliveriesPerSecond;
      return one ? `≥1.6× 1 node ${mark(m.deliveriesPerSecond >= 1.6 * one)}` : '';
    }
    default:
      return '';
  }
}

function report(machine, seconds) {
  const all = [...rows.values()];
  for (const r of all) r.median = medians(r.runs);
  const lines = [];
  const where = [];
  let noisy = false;
  for (const row of all) {
    const find = (server) => all.find((x) => x.workload === row.workload && x.server === server);
    const m = row.median;
    // Against Socket.IO in the same workload; the scale-out rows against one Hubbub node instead, the
    // Pusher rows against Hubbub's native fan-out row.
    const base = row.key === 'redis' ? find(ONE_NODE)?.median
      : row.key === 'pusher' ? all.find((x) => x.key === 'fanout' && x.server === HUBBUB.name)?.median
      : find(SIO)?.median;
    const ratio = m.deliveriesPerSecond && base?.deliveriesPerSecond ? m.deliveriesPerSecond / base.deliveriesPerSecond
      : m.p99 && base?.p99 ? base.p99 / m.p99
      : m.bytesPerConnection && base?.bytesPerConnection ? base.bytesPerConnection / m.bytesPerConnection : NaN;
    const spread = row.runs.length > 1 && row.runs[0].deliveriesPerSecond !== undefined ? ` [${row.runs.map((r) => fmtRate(r.deliveriesPerSecond)).join(', ')}]` : '';
    let deliveries = `${fmt(m.deliveriesPerSecond)}${spread}`;
    let [p50, p99] = [fmt(m.p50, 2), fmt(m.p99, 2)];
    if (row.key === 'sustained') {
      // The passing rate; when none passed, what the first step did instead.
      if (Number.isFinite(m.rate)) deliveries = `${fmt(m.deliveriesPerSecond)} (${fmt(m.rate)} pub/s)${spread}`;
      else {
        deliveries = Number.isFinite(m.missRate) ? `none passed (${fmt(m.missRate)} pub/s: ${fmt(m.missDeliveriesPerSecond)})` : 'none passed';
        [p50, p99] = [`(${fmt(m.missP50, 1)})`, `(${fmt(m.missP99, 1)})`];
      }
    }
    // Rows measured while other processes kept the machine busy are flagged: their numbers are noise.
    const other = Math.max(...row.runs.map((r) => Math.max(r.cores?.other ?? 0, r.missCores?.other ?? 0)));
    if (other > 0.3) noisy = true;
    const server = `${row.server}${other > 0.3 ? ' ⚠' : ''}`;
    lines.push(`| ${row.workload} | ${server} | ${deliveries} | ${p50} | ${p99} | ${fmt(m.cpuPerMillion, 2)} | ${fmt(m.bytesPerConnection)} | ${Number.isFinite(ratio) ? `${fmt(ratio, row.key === 'pusher' ? 2 : 1)}×` : '–'}${row.key === 'redis' ? ' †' : row.key === 'pusher' ? ' ‡' : ''} | ${target(row, find)} |`);
    if (m.cores || m.missCores) {
      const extra = row.key === 'redis' && m.crossNodeDeliveriesPerSecond ? `cross-node deliveries/s: ${fmt(m.crossNodeDeliveriesPerSecond)}`
        : row.key === 'ack' ? `e2e p99 ${fmt(m.e2eP99, 2)} ms; publisher lag p99 ${fmt(m.publisherLagP99, 1)} ms`
        : row.key === 'sustained' ? [
          m.cores ? `at ${fmt(m.rate)}/s (passed): probe lag p99 ${fmt(m.loadLag?.probeP99, 1)} ms` : '',
          m.missCores ? `at ${fmt(m.missRate)}/s (missed: ${fmtRate(m.missDeliveriesPerSecond)} deliveries/s, p50 ${fmt(m.missP50, 1)}, p99 ${fmt(m.missP99, 1)} ms): cores ${coresText(m.missCores)}, load lag p99 ${fmt(m.missLoadLag?.p99, 1)} ms, probe lag p99 ${fmt(m.missLoadLag?.probeP99, 1)} ms` : '',
        ].filter(Boolean).join('; ') : '';
      where.push(`| ${row.workload} | ${row.server} | ${m.cores ? coresText(m.cores) : '–'} | ${fmt(m.loadLag?.p99, 1)} / ${fmt(m.loadLag?.max, 1)} | ${extra} |`);
    }
  }
  const table = [
    `Machine: ${machine}. ${O.quick ? 'Quick run' : 'Full run'}, median of ${O.runs} run${O.runs > 1 ? 's' : ''} (each run's deliveries/s in brackets); ${fmt(seconds)} s. ${new Date().toISOString()}`,
    '',
    '| workload | server | deliveries/s | p50 ms | p99 ms | CPU s / M deliveries | bytes / conn | vs Socket.IO | target |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...lines,
    '',
    ...(all.some((r) => r.key === 'redis') ? ['† scale-out rows compare with one Hubbub node (in-memory engine) on the same workload in the same run, not with Socket.IO; every channel has subscribers on both nodes and each node has its own publishers, so half of the deliveries cross nodes through Redis. CPU per million deliveries counts the servers and Redis.'] : []),
    ...(all.some((r) => r.key === 'pusher') ? ['‡ Pusher rows compare with Hubbub\'s native fan-out row of the same run (same server, channel, publisher and payload; the subscribers speak Pusher protocol 7 at /app/{key}), not with Socket.IO; "–" when the fanout workload was not run alongside. Published figures of Soketi are in bench/README.md, not measured here.'] : []),
    ...(noisy ? ['⚠ other processes kept more than 0.3 of a core busy during (a run of) this row: the machine was shared, the numbers are not reliable.'] : []),
    'Ratios are "times better than Socket.IO": deliveries/s divided by its, p99 and bytes/conn the other way round.',
    'Sustained: the highest publish rate of the ladder whose p99 stayed under 50 ms (when none did, the first step\'s p50 and p99 in parentheses); p50/p99 are publish→receive latency (publisher timestamp in the payload, read against the subscriber clock right after the frame is read, by a load process that reads nothing else). Publish→ack: p50/p99 of the ack round trip at the publisher.',
    ...(where.length ? [
      '',
      'Where the time went (medians over the measured window): CPU cores busy per process group, and the load generators\' own event-loop lag — when the generator is busy or late, the latency it measures is partly its own.',
      '',
      '| workload | server | cores busy | load lag p99 / max ms | notes |',
      '|---|---|---|---:|---|',
      ...where,
    ] : []),
  ].join('\n');
  process.stderr.write('\r\x1b[2K');
  console.log(table);
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, `results/${O.out}.md`), `${table}\n`);
  writeFileSync(join(here, `results/${O.out}.json`), JSON.stringify({ machine, quick: O.quick, runs: O.runs, at: new Date().toISOString(), settings: { ...S, seconds: O.seconds, loadProcs: O.loadProcs }, rows: all }, null, 2));
  writeFileSync(join(here, `results/${O.out}.svg`), chart(all));
  log(`written: bench/results/${O.out}.{md,json,svg}`);
}

/** Bars of deliveries/s (medians) per server for each throughput workload. */
function chart(all) {
  const groups = [...new Set(all.filter((r) => r.median.deliveriesPerSecond).map((r) => r.workload))];
  const colors = { Hubbub: '#4b5bdc', [SIO]: '#e0833a', 'ws (send per socket)': '#8a93a6', [BATCHED]: '#1fa67a', [ONE_NODE]: '#4b5bdc', [ONE_NODE_REDIS]: '#7d89e6', [TWO_NODES]: '#2b3aa8', [PUSHER_NATIVE]: '#8e44ad', [PUSHER_HTTP]: '#b07cc6' };
  const width = 820;
  const rowH = 22;
  const label = 250;
  const bars = [];
  let y = 30;
  const max = Math.max(...all.map((r) => r.median.deliveriesPerSecond || 0), 1);
  for (const g of groups) {
    bars.push(`<text x="10" y="${y}" font-size="13" font-weight="600">${g}</text>`);
    y += 8;
    all.filter((r) => r.workload === g).forEach((r) => {
      const w = (r.median.deliveriesPerSecond / max) * (width - label - 120);
      bars.push(`<text x="10" y="${y + 15}" font-size="12">${r.server}</text><rect x="${label}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${colors[r.server] ?? '#888'}"/><text x="${(label + 5 + w).toFixed(1)}" y="${y + 15}" font-size="12">${Math.round(r.median.deliveriesPerSecond).toLocaleString('en-US')}/s</text>`);
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
