import { O, S, token, log, sleep, fmt } from '../lib/context.mjs';
import { startServer, startRedis, startRedisCluster, child, subscribers, windowRate, loadLag, cpuSample, coresBetween } from '../lib/procs.mjs';

/**
 * Flood: publisher connections keep 64 publishes in flight each; deliveries/s counted by the
 * subscribers over a window after a warm-up, with the CPU each group of processes used in that window.
 * With `nodes` > 1 (Hubbub only) the nodes share a private Redis, subscribers are spread so that every
 * channel has some on each node, and each node has its own publisher process with its share of the
 * publisher connections: half of all deliveries cross nodes.
 */
export async function throughput(server, subCount, channels, { nodes = 1, redis = false, cluster = false, publishers = 1, window = 64, subKind = server.kind, httpPublisher = false } = {}) {
  const cleanup = [];
  const t0 = performance.now();
  const mark = (what) => process.env.BENCH_DEBUG && log(`  ${what} at ${fmt(performance.now() - t0)} ms`);
  try {
    // `cluster`: the nodes share a 3-shard Redis Cluster instead of one redis-server.
    const rs = cluster ? await startRedisCluster(3) : redis ? await startRedis() : undefined;
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
      ...(rs ? { redis: rs.pids ?? [rs.proc.pid] } : {}),
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
    // The split the capacity model needs: node CPU and Redis CPU per million deliveries, Redis CPU per publish.
    const nodeCores = Object.entries(cores).filter(([k]) => k === 'server' || k.startsWith('node')).reduce((a, [, v]) => a + v, 0);
    const split = rs ? {
      nodeCpuPerMillion: (nodeCores / deliveriesPerSecond) * 1e6,
      redisCpuPerMillion: (cores.redis / deliveriesPerSecond) * 1e6,
      // Publishes/s: each reaches every subscriber of its channel (subCount / channels of them).
      redisCpuPerPublishUs: (cores.redis / (deliveriesPerSecond / (subCount / channels.length))) * 1e6,
    } : {};
    return { deliveriesPerSecond, ...crossNode, ...split, cpuPerMillion: (serverCores / deliveriesPerSecond) * 1e6, cores, loadLag: loadLag(s1), errors, closed };
  } finally {
    mark('measured');
    for (const f of cleanup) await f();
    mark('stopped');
  }
}
