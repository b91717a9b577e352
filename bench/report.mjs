// The table, the targets column, the capacity model and the chart, from the rows the workloads recorded.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { O, S, here, fmt, fmtRate, coresText, HUBBUB, SIO, BATCHED, SHARED, ONE_NODE, ONE_NODE_REDIS, TWO_NODES, TWO_NODES_CLUSTER, PUSHER_NATIVE, PUSHER_HTTP, log } from './lib/context.mjs';
import { capacityModel, cpuPerWorkload } from './lib/capacity.mjs';

const mib = (b) => fmt(b / 2 ** 20);
/** The memory rows' note: bytes/conn is the second half's growth per connection; this is the whole growth over all. */
const allIn = (m) => `bytes/conn is what the second half of the connections added, per connection; the whole RSS growth over all of them is ${fmt(m.allInBytesPerConnection)} (RSS ${mib(m.rssBase)} → ${mib(m.rssHalf)} → ${mib(m.rssLoaded)} MiB)`;

/** All runs of one row, and their medians. */
export const rows = new Map();
const failures = [];
/** A run that threw: left out of the medians, listed under the table, and the bench goes on. */
export function recordFailure(workload, server, run, err) {
  failures.push(`${workload} · ${server} · run ${run}: ${String(err?.message ?? err).split('\n')[0]}`);
}

export function record(workload, key, server, run, metrics) {
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

/**
 * Whether the row meets the issue's target, e.g. "≥20× SIO ✓". Targets are stated for Hubbub; `all`
 * for targets that compare with another workload's row of the same run.
 */
function target(row, find, all) {
  const m = row.median;
  const mark = (ok) => (ok ? '✓' : '✗');
  const pct = (x) => `${fmt(100 * x)}%`;
  const memoryEngine = all.find((x) => x.key === 'redis' && x.server === ONE_NODE)?.median.cpuPerMillion;
  // Redis path: cluster-wide CPU per delivery against one in-memory node on the same workload.
  const redisPath = () => (memoryEngine
    ? `CPU ≤ 1.3× memory engine ${mark(m.cpuPerMillion <= 1.3 * memoryEngine)} (${fmt(m.cpuPerMillion / memoryEngine, 2)}×)`
    : 'CPU ≤ 1.3× memory engine: run redis too');
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
    case 'channels': {
      if (row.server !== HUBBUB.name) return '';
      const sio = find(SIO)?.median.deliveriesPerSecond;
      const ws = find(BATCHED)?.median.deliveriesPerSecond;
      return [
        ws ? `≥1.2× batched ws ${mark(m.deliveriesPerSecond >= 1.2 * ws)} (${fmt(m.deliveriesPerSecond / ws, 2)}×)` : '≥1.2× batched ws: not run',
        sio ? `≥2× SIO ${mark(m.deliveriesPerSecond >= 2 * sio)} (${fmt(m.deliveriesPerSecond / sio, 2)}×)` : '≥2× SIO: not run',
      ].join(' · ');
    }
    case 'sustained': {
      if (row.server !== HUBBUB.name) return '';
      const sharedRow = find(SHARED)?.median;
      const shared = sharedRow?.deliveriesPerSecond;
      // A server that passed every step has a capacity above the ladder: the ratio is then a lower bound at best.
      const topped = !Number.isFinite(m.missRate) || !Number.isFinite(sharedRow?.missRate) ? ' (a server passed every step: extend --rates)' : '';
      return [
        shared ? `≥80% shared-buffer ws ${mark(m.deliveriesPerSecond >= 0.8 * shared)} (${pct(m.deliveriesPerSecond / shared)})${topped}` : '≥80% shared-buffer ws: not run',
        `≥1M/s ${mark(m.deliveriesPerSecond >= 1e6)}`,
      ].join(' · ');
    }
    case 'flood':
      // Every server's row says it: the bare servers show what the floor does under the same flood.
      return [
        `≥90% of paced ${mark(m.ofPaced >= 0.9)} (${pct(m.ofPaced)})`,
        `RSS ${mib(m.rssStart)} → peak ${mib(m.rssPeak)} MiB${m.rssCapped ? ' (cap hit ✗)' : ''}`,
        `no socket cut ${mark(m.cut === 0)}${m.cut ? ` (${fmt(m.cut)})` : ''}`,
      ].join(' · ');
    case 'ack': {
      if (row.server !== HUBBUB.name) return '';
      // Batched ws does next to nothing per publish: its p99 is about what the load generator and
      // the kernel add, the floor under any server's number here.
      const floor = find(BATCHED)?.median.p99;
      return `p99 < 5 ms ${mark(m.p99 < 5)}${Number.isFinite(floor) ? ` (floor: batched ws ${fmt(floor, 1)} ms)` : ''}`;
    }
    case 'memory':
      return row.server === HUBBUB.name ? `≤ 8 KiB ${mark(m.bytesPerConnection <= 8192)}` : '';
    case 'idle':
      return row.server === HUBBUB.name ? `≤ 6 KiB ${mark(m.bytesPerConnection <= 6144)}${m.closed ? ` · ${fmt(m.closed)} closed ✗` : ''}` : '';
    case 'presence': {
      // Flat: the second half of the churn adds at most 5% (and 2 MiB of slack for allocator noise).
      const flat = m.rssEnd <= m.rssMid * 1.05 + 2 * 2 ** 20;
      return `p99 < 100 ms ${mark(m.p99 < 100)} · memory flat ${mark(flat)} (${mib(m.rssStart)} → ${mib(m.rssMid)} → ${mib(m.rssEnd)} MiB)`;
    }
    case 'storm':
      return `0 lost ${mark(m.lost === 0 && m.notCaughtUp === 0)} (${fmt(m.lost)} lost, ${fmt(m.notCaughtUp)} not caught up) · all caught up in ${fmt(m.catchUpSeconds, 1)} s (p50 ${fmt(m.catchUpP50Seconds, 1)} s)`;
    case 'redis': {
      if (row.server !== TWO_NODES) return '';
      const one = find(ONE_NODE)?.median.deliveriesPerSecond;
      return [one ? `≥1.6× 1 node ${mark(m.deliveriesPerSecond >= 1.6 * one)}` : '', redisPath()].filter(Boolean).join(' · ');
    }
    case 'cluster': {
      if (row.server !== TWO_NODES_CLUSTER) return redisPath();
      const single = find(TWO_NODES)?.median.cpuPerMillion;
      return [redisPath(), single ? `${fmt(m.cpuPerMillion / single, 2)}× the CPU per delivery of one Redis` : ''].filter(Boolean).join(' · ');
    }
    default:
      return '';
  }
}

export function report(machine, seconds) {
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
      : row.key === 'cluster' ? (row.server === TWO_NODES ? undefined : find(TWO_NODES)?.median)
      : row.key === 'pusher' ? all.find((x) => x.key === 'fanout' && x.server === HUBBUB.name)?.median
      : find(SIO)?.median;
    const ratio = row.key === 'cluster' ? (base?.cpuPerMillion ? base.cpuPerMillion / m.cpuPerMillion : NaN)
      : m.deliveriesPerSecond && base?.deliveriesPerSecond ? m.deliveriesPerSecond / base.deliveriesPerSecond
      : m.p99 && base?.p99 ? base.p99 / m.p99
      : m.bytesPerConnection && base?.bytesPerConnection ? base.bytesPerConnection / m.bytesPerConnection : NaN;
    const spread = row.runs.length > 1 && row.runs[0].deliveriesPerSecond !== undefined ? ` [${row.runs.map((r) => fmtRate(r.deliveriesPerSecond)).join(', ')}]` : '';
    let deliveries = `${fmt(m.deliveriesPerSecond)}${spread}`;
    let [p50, p99] = [fmt(m.p50, 2), fmt(m.p99, 2)];
    if (row.key === 'flood') deliveries = `${fmt(m.deliveriesPerSecond)} (paced ${fmtRate(m.pacedDeliveriesPerSecond)})${spread}`;
    if (row.key === 'storm') deliveries = `– (${fmt(m.clients)} clients)`;
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
    lines.push(`| ${row.workload} | ${server} | ${deliveries} | ${p50} | ${p99} | ${fmt(m.cpuPerMillion, 2)} | ${fmt(m.bytesPerConnection)} | ${Number.isFinite(ratio) ? `${fmt(ratio, row.key === 'pusher' ? 2 : 1)}×` : '–'}${row.key === 'redis' || row.key === 'cluster' ? ' †' : row.key === 'pusher' ? ' ‡' : ''} | ${target(row, find, all)} |`);
    if (row.key === 'memory' && Number.isFinite(m.allInBytesPerConnection)) where.push(`| ${row.workload} | ${row.server} | – | – | ${allIn(m)} |`);
    if (m.cores || m.missCores) {
      const extra = row.key === 'redis' && m.crossNodeDeliveriesPerSecond ? `cross-node deliveries/s: ${fmt(m.crossNodeDeliveriesPerSecond)}`
        : row.key === 'cluster' ? `nodes ${fmt(m.nodeCpuPerMillion, 2)} + Redis ${fmt(m.redisCpuPerMillion, 2)} CPU s / M deliveries; Redis ${fmt(m.redisCpuPerPublishUs, 1)} µs CPU per publish`
        : row.key === 'flood' ? `paced: ${fmtRate(m.pacedDeliveriesPerSecond)}/s at ${fmt(m.pacedCpuPerMillion, 2)} CPU s / M (cores ${coresText(m.pacedCores)}); flood publishers sent ${fmt(m.floodPublishedPerSecond)}/s, ${fmt(m.floodAckedPerSecond)}/s acked${m.floodErrors ? `, ${fmt(m.floodErrors)} refused` : ''}; RSS 2 s after the flood ${mib(m.rssAfter)} MiB`
        : row.key === 'presence' ? `${fmt(m.changesPerSecond)} changes/s made; ${fmt(m.events)} presence events seen of ${fmt(m.expectedEvents)} (changes × members per channel, the changer included); max ${fmt(m.presenceMax, 1)} ms${m.errors ? `; ${fmt(m.errors)} errors` : ''}`
        : row.key === 'storm' ? `node down ${fmt(m.downSeconds, 1)} s; p50 re-attach ${fmt(m.reattachP50Seconds, 1)} s after the kill; ${fmt(m.discontinuities)} re-attaches with discontinuity; ${fmt(m.published)} messages published in all (cores from the node's return to the last catch-up)`
        : row.key === 'idle' ? `idle CPU: ${fmt(m.idleCoresPerMillionConns, 2)} cores per million connections; ${allIn(m)}`
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
    ...(all.some((r) => r.key === 'cluster') ? ['† Redis Cluster rows: two nodes on a 3-shard Redis Cluster (3 masters, no replicas, sharded pub/sub) compared with the same two nodes on one redis-server, in CPU per delivery (nodes and every redis-server), not throughput (one machine).'] : []),
    ...(all.some((r) => r.key === 'redis') ? ['† scale-out rows compare with one Hubbub node (in-memory engine) on the same workload in the same run, not with Socket.IO; every channel has subscribers on both nodes and each node has its own publishers, so half of the deliveries cross nodes through Redis. CPU per million deliveries counts the servers and Redis.'] : []),
    ...(all.some((r) => r.key === 'pusher') ? ['‡ Pusher rows compare with Hubbub\'s native fan-out row of the same run (same server, channel, publisher and payload; the subscribers speak Pusher protocol 7 at /app/{key}), not with Socket.IO; "–" when the fanout workload was not run alongside. Published figures of Soketi are in bench/README.md, not measured here.'] : []),
    ...(noisy ? ['⚠ other processes kept more than 0.3 of a core busy during (a run of) this row: the machine was shared, the numbers are not reliable.'] : []),
    'Ratios are "times better than Socket.IO": deliveries/s divided by its, p99 and bytes/conn the other way round.',
    'Sustained: the highest publish rate of the ladder whose p99 stayed under 50 ms (when none did, the first step\'s p50 and p99 in parentheses); p50/p99 are publish→receive latency (publisher timestamp in the payload, read against the subscriber clock right after the frame is read, by a load process that reads nothing else). Publish→ack: p50/p99 of the ack round trip at the publisher.',
    '',
    'Capacity on paper: 1M connections and 500k deliveries/s on many small channels, from this run\'s medians (bench/README.md explains the model). CPU s per million deliveries, per Hubbub row: ' + (cpuPerWorkload(all) || 'none measured') + '.',
    '',
    '| quantity | value | from / assumption |',
    '|---|---:|---|',
    ...capacityModel(all, { subscribersPerChannel: S.manyConns / S.manyChannels, connectionsPerNode: S.manyConns / 2 }),
    ...(failures.length ? ['', `Failed runs (left out of the medians): ${failures.length}`, '', ...failures.map((f) => `- ${f}`)] : []),
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
  writeFileSync(join(here, `results/${O.out}.json`), JSON.stringify({ machine, quick: O.quick, runs: O.runs, at: new Date().toISOString(), settings: { ...S, seconds: O.seconds, loadProcs: O.loadProcs }, rows: all, failures }, null, 2));
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
