// The capacity model: what 1M connections and 500k deliveries/s on many small channels would take
// (cores, `hubbub serve` processes, memory, Redis shards), computed from this run's medians. Every
// figure says where it comes from or what it assumes; a figure the run did not measure says so.
import { fmt } from './context.mjs';
import { HUBBUB, ONE_NODE, TWO_NODES, TWO_NODES_CLUSTER } from './context.mjs';

const CONNECTIONS = 1e6;
const DELIVERIES = 5e5;
// Planned utilisation: a node or a Redis shard sized to be this busy at the target load.
const BUSY = 0.7;
// Centrifugo's comparison unit: pods of 2 CPU.
const POD_CPUS = 2;
// A `hubbub serve` process with no connections (V8 heap, code, engine): an assumption, not measured here.
const PROCESS_BASE_MIB = 100;

export function capacityModel(all, { subscribersPerChannel, connectionsPerNode }) {
  const med = (key, server) => all.find((r) => r.key === key && r.server === server)?.median;
  // Node CPU per delivery on many channels through Redis: the cluster row first, then one Redis.
  const sources = [
    ['cluster', TWO_NODES_CLUSTER, 'many channels, 2 nodes + 3-shard Redis Cluster'],
    ['redis', TWO_NODES, 'many channels, 2 nodes + one Redis'],
    ['cluster', TWO_NODES, 'many channels, 2 nodes + one Redis'],
  ];
  const found = sources.map(([k, s, what]) => ({ m: med(k, s), what })).find((x) => Number.isFinite(x.m?.nodeCpuPerMillion));
  const memoryNode = med('channels', HUBBUB.name) ?? med('redis', ONE_NODE);
  const idle = med('idle', HUBBUB.name);
  const memory = med('memory', HUBBUB.name);
  const rows = [];
  const row = (what, value, from) => rows.push(`| ${what} | ${value} | ${from} |`);

  let nodeCpu = found?.m.nodeCpuPerMillion;
  let nodeFrom = found ? `measured: node CPU on "${found.what}"` : '';
  if (!Number.isFinite(nodeCpu) && Number.isFinite(memoryNode?.cpuPerMillion)) {
    nodeCpu = memoryNode.cpuPerMillion;
    nodeFrom = 'measured on one in-memory node (many channels): **assumes Redis adds nothing to the node** (run redis or cluster)';
  }
  const bytes = idle?.bytesPerConnection ?? memory?.bytesPerConnection;
  const bytesFrom = idle ? 'measured: idle workload (authenticated, no subscription)' : memory ? 'measured: memory workload (one subscription each)' : 'not measured (run idle)';
  const idleCpu = idle?.idleCoresPerMillionConns;
  const redisUs = found?.m.redisCpuPerPublishUs;

  row('target', `${fmt(CONNECTIONS)} connections, ${fmt(DELIVERIES)} deliveries/s`, `many small channels, ${subscribersPerChannel} subscribers each (as the many-channels workload, and Centrifugo's group channels)`);
  if (!Number.isFinite(nodeCpu)) {
    row('node cores', 'not measured', 'run channels, redis or cluster');
    return rows;
  }
  const deliveryCores = (DELIVERIES / 1e6) * nodeCpu;
  row('node CPU per million deliveries', `${fmt(nodeCpu, 2)} CPU s`, nodeFrom);
  row('cores for deliveries', fmt(deliveryCores, 1), `${fmt(DELIVERIES / 1e6, 1)} M/s × ${fmt(nodeCpu, 2)} s; assumes CPU per delivery stays as measured at ${fmt(connectionsPerNode)} connections per node (kernel and JS cost per write, no cross-node effects)`);
  const idleCores = Number.isFinite(idleCpu) ? (CONNECTIONS / 1e6) * idleCpu : 0;
  row('cores for idle connections', Number.isFinite(idleCpu) ? fmt(idleCores, 2) : '0 (not measured)', Number.isFinite(idleCpu) ? `measured: ${fmt(idleCpu, 2)} cores per million idle connections (heartbeats, timers)` : 'run idle; assumed 0');
  const cores = (deliveryCores + idleCores) / BUSY;
  const procs = Math.ceil(cores);
  row('node cores to provision', fmt(cores, 1), `the above at ${fmt(100 * BUSY)}% busy (assumption: headroom for bursts, GC, reconnect storms)`);
  row('`hubbub serve` processes', fmt(procs), 'one per core (assumption: a Node process runs its JavaScript on one core; the kernel\'s share of writes is in the measured CPU)');
  row(`pods of ${POD_CPUS} CPU`, fmt(Math.ceil(cores / POD_CPUS)), `${POD_CPUS} processes per pod; Centrifugo's published test ran 20 server pods (bench/README.md)`);
  if (Number.isFinite(bytes)) {
    const gib = (CONNECTIONS * bytes) / 2 ** 30 + (procs * PROCESS_BASE_MIB) / 1024;
    row('node memory', `${fmt(gib, 1)} GiB (${fmt(gib / procs, 2)} GiB per process)`, `${fmt(bytes)} bytes per connection (${bytesFrom}) × ${fmt(CONNECTIONS)}, plus ${PROCESS_BASE_MIB} MiB per process (assumption); excludes the kernel's socket buffers, which grow with unsent data`);
  } else row('node memory', 'not measured', bytesFrom);
  const publishes = DELIVERIES / subscribersPerChannel;
  row('publishes/s', fmt(publishes), `${fmt(DELIVERIES)} deliveries / ${subscribersPerChannel} subscribers per channel`);
  if (!Number.isFinite(redisUs)) {
    row('Redis shards', 'not measured', 'run redis or cluster');
    return rows;
  }
  row('Redis CPU per publish', `${fmt(redisUs, 1)} µs`, `measured on "${found.what}", where each channel has subscribers on both nodes`);
  // Random placement: the nodes a channel's subscribers are on; channel-affine placement: one.
  const spread = procs * (1 - (1 - 1 / procs) ** subscribersPerChannel);
  for (const [label, k, why] of [
    ['random placement', spread, `connections spread at random over ${fmt(procs)} processes: a channel of ${subscribersPerChannel} reaches ${fmt(spread, 1)} nodes`],
    ['channel-affine placement', 1, 'a channel\'s subscribers routed to one node (best case)'],
  ]) {
    // The measured cost is taken as all per receiving node (measured with 2): pessimistic, as part of it is per publish.
    const redisCores = (publishes * (redisUs / 2) * k) / 1e6;
    row(`Redis cores, ${label}`, fmt(redisCores, 2), `${fmt(publishes)} publishes/s × ${fmt(redisUs / 2, 1)} µs per receiving node × ${fmt(k, 1)}; ${why}; assumes the cost is linear in receiving nodes (pessimistic)`);
    row(`Redis shards, ${label}`, fmt(Math.max(1, Math.ceil(redisCores / BUSY))), `a shard is one single-threaded redis-server at ${fmt(100 * BUSY)}% busy (assumption); channels hash evenly over shards (hash-tagged, sharded pub/sub); history, presence and dedup writes are in the measured CPU`);
  }
  return rows;
}

/** CPU seconds per million deliveries of every Hubbub row that has them: the model's raw material. */
export function cpuPerWorkload(all) {
  return all
    .filter((r) => r.server.startsWith('Hubbub') && Number.isFinite(r.median.cpuPerMillion))
    .map((r) => `${r.workload} · ${r.server}: ${fmt(r.median.cpuPerMillion, 2)}`)
    .join('; ');
}
