// What every part of the bench shares: the command line (O), the sizes of the workloads (S), the names
// of the rows, the load token, and the small helpers for output.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bench directory (bench/), whatever file asks. */
export const here = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(here, '../packages/server/dist/cli/main.js');
export const WORKLOADS = ['fanout', 'pusher', 'channels', 'sustained', 'flood', 'ack', 'memory', 'idle', 'presence', 'storm', 'redis', 'cluster'];

function options(argv) {
  const value = (name) => {
    const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    return argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`Usage: npm run bench [-- options]

  --quick            short run (a few minutes for everything): fewer connections, shorter windows, 1 run
  --runs N           repeat each workload N times and report medians (default 3; 1 with --quick)
  --only LIST        workloads to run, comma-separated: ${WORKLOADS.join(', ')}
  --servers LIST     servers to run: hubbub, socketio, ws, ws-batched, ws-shared (ratios need socketio;
                     the sustained and flood targets need ws-shared)
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
export const O = options(process.argv.slice(2));
export const SIGNING_KEY = 'bench-signing-key-0123456789abcdef';
export const S = O.quick
  ? {
    fanoutSubs: 2000, manyConns: 2000, manyChannels: 200, memoryConns: 2000, warmupMs: 300, rates: [10, 50], ackRate: 5000, ackPublishers: 100, oneNodeRedis: false,
    floodPublishers: 4, presenceClients: 2000, presenceChannels: 200, presenceRate: 1000, presenceSeconds: 6,
    stormClients: 1000, stormProcs: 2, stormChannels: 20, stormRate: 50, idleConns: 3000, idleProcs: 2,
  }
  : {
    fanoutSubs: 2000, manyConns: 10000, manyChannels: 1000, memoryConns: 15000, warmupMs: 1500, rates: [5, 10, 25, 50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 4000], ackRate: 5000, ackPublishers: 100, oneNodeRedis: true,
    floodPublishers: 4, presenceClients: 2000, presenceChannels: 200, presenceRate: 1000, presenceSeconds: 30,
    // 10000 SDK clients over 4 processes, 19000 idle connections over 3 (the open-file limit is 20000 a process).
    stormClients: 10000, stormProcs: 4, stormChannels: 200, stormRate: 200, idleConns: 19000, idleProcs: 3,
  };

export const HUBBUB = { name: 'Hubbub', kind: 'hubbub' };
// Many channels and scale-out: many publisher connections with a few publishes in flight each (a
// server may handle one connection's frames one after another, e.g. waiting on Redis for each).
export const MANY_PUBLISHERS = { publishers: Number(process.env.BENCH_PUBLISHERS ?? 16), window: Number(process.env.BENCH_WINDOW ?? 16) };
export const SERVERS = [
  HUBBUB,
  { name: 'Socket.IO 4', kind: 'socketio', script: 'servers/socketio.mjs' },
  { name: 'ws (send per socket)', kind: 'ws', script: 'servers/ws-naive.mjs' },
  { name: 'ws (framed once, batched)', kind: 'ws-batched', script: 'servers/ws-batched.mjs' },
  { name: 'ws (one shared buffer per turn)', kind: 'ws-shared', script: 'servers/ws-shared.mjs' },
].filter((s) => !O.servers || O.servers.includes(s.kind));
export const SIO = 'Socket.IO 4';
export const BATCHED = 'ws (framed once, batched)';
export const SHARED = 'ws (one shared buffer per turn)';
export const ONE_NODE = 'Hubbub, 1 node (in-memory engine)';
export const ONE_NODE_REDIS = 'Hubbub, 1 node + Redis';
export const TWO_NODES = 'Hubbub, 2 nodes + Redis';
export const TWO_NODES_CLUSTER = 'Hubbub, 2 nodes + Redis Cluster (3 shards)';
// The Pusher rows: Hubbub with Pusher-protocol subscribers, published to natively or through Pusher's HTTP API.
export const PUSHER_NATIVE = 'Hubbub, Pusher subs, native publisher';
export const PUSHER_HTTP = 'Hubbub, Pusher subs, HTTP API publisher';

export const progress = (text) => process.stderr.write(`\r\x1b[2K${text}`);
export const log = (text) => process.stderr.write(`\r\x1b[2K${text}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const token = execFileSync(process.execPath, [CLI, 'devtoken', '--app', 'bench', '--client', 'load', '--ttl', '1d'], {
  env: { ...process.env, JWT_SIGNING_KEY: SIGNING_KEY },
}).toString().trim();

export const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
export const fmtRate = (n) => (n >= 1e6 ? `${fmt(n / 1e6, 2)}M` : n >= 1e3 ? `${fmt(n / 1e3, 0)}k` : fmt(n));
export const coresText = (c) => (c ? Object.entries(c).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ') : '');
