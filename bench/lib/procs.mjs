// The processes of a run: servers under test, Redis, load generators; and what is read from /proc about them.
import { fork, spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { pusherCredentials } from './pusher.mjs';
import { O, S, CLI, SIGNING_KEY, here, token, log, progress, sleep, fmt } from './context.mjs';

// Every process started here, so that none outlives the bench (also on errors and Ctrl-C).
const children = new Set();
const CPU_COUNT = cpus().length;
export function track(proc, role) {
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

export function waitForLine(proc, re, what) {
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = re.exec(line);
      if (m) resolve(m);
    });
    proc.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

export function stopper(proc) {
  return () => new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : (proc.once('exit', r), proc.kill('SIGKILL'))));
}

/**
 * A server under test. With `pusherKey` (Hubbub only), a Pusher key of the bench's app made in its data
 * dir first by `hubbub keys create --format pusher` (only such a key opens `/app/{key}`), returned as
 * Pusher credentials (`pusher`: appId, key, secret).
 */
export async function startServer(server, extra = [], { pusherKey = false, port = 0, dataDir: keptDir } = {}) {
  let dataDir = keptDir;
  let pusher;
  if (server.kind === 'hubbub') dataDir ??= mkdtempSync(join(tmpdir(), 'hubbub-bench-'));
  if (pusherKey) {
    if (!dataDir) throw new Error(`${server.name} has no Pusher keys`);
    pusher = pusherCredentials(execFileSync(process.execPath, [CLI, 'keys', 'create', '--app', 'bench', '--format', 'pusher', '--data-dir', dataDir]).toString());
  }
  const argv = server.kind === 'hubbub'
    ? [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--publish-rate', '10000000', '--max-connections', '100000', '--max-subscriptions', '10', ...extra, ...(process.env.BENCH_HUBBUB_ARGS?.split(' ').filter(Boolean) ?? [])]
    : [join(here, server.script)];
  const proc = track(spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_OPTIONS?.split(' ').filter(Boolean) ?? []), ...argv], {
    env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY, PORT: String(port) },
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
      // A data dir the caller gave (a node restarted in place) is the caller's to remove.
      if (dataDir && !keptDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A private, non-persistent redis-server on a free port, for the two-node workload. */
export async function startRedis() {
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

/**
 * A Redis Cluster of `masters` shards (no replicas: the single Redis it is compared with has none
 * either), non-persistent, on free ports, made with `redis-cli --cluster create`. `url` is the
 * `redis+cluster://` seed list for `hubbub serve --redis`; `pids` every redis-server of it.
 */
export async function startRedisCluster(masters = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'hubbub-bench-cluster-'));
  const nodes = [];
  const taken = new Set();
  while (nodes.length < masters) {
    const [port, bus] = [await freePort(), await freePort()];
    if (taken.has(port) || taken.has(bus) || port === bus) continue;
    taken.add(port).add(bus);
    nodes.push({ port, bus });
  }
  const procs = nodes.map(({ port, bus }) => {
    const proc = track(spawn('redis-server', ['--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] }), 'server');
    proc.on('error', (err) => log(`redis-server: ${err.message}`));
    return proc;
  });
  const stop = async () => {
    await Promise.all(procs.map((p) => stopper(p)()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const { port } of nodes) {
      for (let i = 0; !(await canConnect(port)); i++) {
        if (i > 100) throw new Error(`redis-server on ${port} did not start`);
        await sleep(50);
      }
    }
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      const ok = nodes.every(({ port }) => execFileSync('redis-cli', ['-p', String(port), 'cluster', 'info']).toString().includes('cluster_state:ok'));
      if (ok) break;
      if (i > 200) throw new Error('the Redis Cluster did not reach cluster_state:ok');
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, pids: procs.map((p) => p.pid), stop };
}

export function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

export function child(script, cfg) {
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
 * With `idle`, connections only authenticate (ready on `connected`) and subscribe to nothing.
 * Bulk connections go to `procs` (default --load-procs) processes in alternating runs of 50; latency probes (every
 * `probeEvery`-th connection) to a process of their own that reads nothing else. Connections are
 * opened in steps of 500 indices across all processes, so that the server sees them in about index
 * order and the probes sit spread through each channel's subscriber list, not all at one end.
 */
export async function subscribers(server, ports, count, channels, probeEvery = 0, { procs: procCount = O.loadProcs, halfway, ...extra } = {}) {
  const bulk = Array.from({ length: procCount }, () => []);
  const probes = [];
  for (let i = 0; i < count; i++) {
    if (probeEvery > 0 && i % probeEvery === 0) probes.push(i);
    else bulk[Math.floor(i / 50) % procCount].push(i);
  }
  const procs = [...bulk.map((indices) => ({ indices, probes: false })), { indices: probes, probes: true }]
    .filter((p) => p.indices.length > 0)
    .map((p) => child('load/subscribers.mjs', { kind: server.kind, ports, token, channels, ...extra, ...p }));
  const t0 = performance.now();
  await Promise.all(procs.map((p) => p.next('ready')));
  let halfwayDone = !halfway;
  for (let upTo = 500; upTo < count + 500; upTo += 500) {
    await Promise.all(procs.map((p) => (p.send({ type: 'open', upTo }), p.next('opened'))));
    progress(`  ${fmt(Math.min(upTo, count))}/${fmt(count)} subscribers`);
    // `halfway(opened)`: once, with about half of them open and before the rest are.
    if (!halfwayDone && upTo >= count / 2 && upTo < count) {
      halfwayDone = true;
      await halfway(upTo);
    }
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
export function windowRate(s0, s1) {
  return s1.reduce((sum, r, i) => sum + (r.frames - s0[i].frames) / ((r.at - s0[i].at) / 1000), 0);
}
/** Event-loop lag of the load processes: the worst of all, and that of the probe process (which times latency). */
export const loadLag = (snap) => {
  const probe = snap.filter((r) => r.probes);
  return {
    p99: Math.max(...snap.map((r) => r.lagP99)),
    max: Math.max(...snap.map((r) => r.lagMax)),
    ...(probe.length ? { probeP99: Math.max(...probe.map((r) => r.lagP99)) } : {}),
  };
};

// CPU time from /proc, per group of processes (server, redis, subscribers, publishers).
const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK;
  } catch {
    return 0;
  }
}
/** Busy CPU seconds of the whole machine (all cores), from the first line of /proc/stat. */
export function machineSeconds() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / TICK;
}
export function cpuSample(groups) {
  return { at: performance.now(), machine: machineSeconds(), s: Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids.reduce((a, p) => a + cpuSeconds(p), 0)])) };
}
/** Cores busy per group between two samples; `other` is everything else on the machine (noise). */
export function coresBetween(a, b) {
  const dt = (b.at - a.at) / 1000;
  const out = Object.fromEntries(Object.keys(a.s).map((k) => [k, (b.s[k] - a.s[k]) / dt]));
  out.other = Math.max(0, (b.machine - a.machine) / dt - Object.values(out).reduce((x, y) => x + y, 0));
  return out;
}
export function rssBytes(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}
export const channelNames = (n, prefix) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
