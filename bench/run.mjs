#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --runs 3] [-- --only fanout,redis] [-- --servers hubbub,ws-batched]`:
// Hubbub against Socket.IO 4 and bare `ws` on the same workloads in the same run. Servers, Redis and
// load each run in their own processes; every workload is repeated --runs times (servers taking turns)
// and the table shows medians. See bench/README.md for what each workload measures and how.
import { cpus } from 'node:os';
import { O, S, SERVERS, HUBBUB, MANY_PUBLISHERS, ONE_NODE, ONE_NODE_REDIS, TWO_NODES, TWO_NODES_CLUSTER, PUSHER_NATIVE, PUSHER_HTTP, log, progress, fmt, fmtRate, coresText } from './lib/context.mjs';
import { channelNames } from './lib/procs.mjs';
import { throughput } from './workloads/throughput.mjs';
import { ackLatency } from './workloads/ack.mjs';
import { sustained } from './workloads/sustained.mjs';
import { memory, idle } from './workloads/memory.mjs';
import { flood } from './workloads/flood.mjs';
import { presence } from './workloads/presence.mjs';
import { storm } from './workloads/storm.mjs';
import { record, recordFailure, report } from './report.mjs';

const mib = (b) => fmt(b / 2 ** 20);

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
      run: (s) => throughput(s, S.fanoutSubs, ['fanout']),
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
      run: (c) => throughput(HUBBUB, S.fanoutSubs, ['fanout'], c.opts),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s · cores ${coresText(r.cores)} · load lag p99 ${fmt(r.loadLag.p99, 1)} ms${r.errors ? ` · ${fmt(r.errors)} publishes refused` : ''}`,
    },
    want('channels') && {
      key: 'channels', label: many, each: SERVERS,
      run: (s) => throughput(s, S.manyConns, channelNames(S.manyChannels, 'room-'), MANY_PUBLISHERS),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s · cores ${coresText(r.cores)} · load lag p99 ${fmt(r.loadLag.p99, 1)} ms`,
    },
    want('sustained') && {
      key: 'sustained', label: `sustained (${S.fanoutSubs} subs, p99 < 50 ms)`, each: SERVERS,
      run: (s) => sustained(s, O.rates ?? S.rates),
      say: (r) => r.steps.map((x) => `${x.rate}/s ${x.ok ? '✓' : '✗'} ${fmtRate(x.deliveriesPerSecond)} deliveries/s p50 ${fmt(x.p50, 1)} p99 ${fmt(x.p99, 1)} ms`).join(' · ') +
        (Number.isFinite(r.missRate) ? ` (at ${r.missRate}/s: cores ${coresText(r.missCores)}, probe lag p99 ${fmt(r.missLoadLag.probeP99, 1)} ms, bulk load lag p99 ${fmt(r.missLoadLag.p99, 1)} ms)` : ' (every step passed)'),
    },
    // Overload: the fan-out shape paced by acks, then flooded; only servers with some backpressure or
    // a bounded cost per publish are worth flooding (Socket.IO and send-per-socket ws queue without limit).
    want('flood') && {
      key: 'flood', label: `flood (${S.fanoutSubs} subs, 1 channel, ${S.floodPublishers} publishers, no window)`,
      each: SERVERS.filter((s) => ['hubbub', 'ws-batched', 'ws-shared'].includes(s.kind)),
      run: (s) => flood(s),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s (${fmt(100 * r.ofPaced)}% of paced ${fmt(r.pacedDeliveriesPerSecond)}) · RSS ${mib(r.rssStart)} → peak ${mib(r.rssPeak)} MiB · ${fmt(r.cut)} cut · publishers acked ${fmt(r.floodAckedPerSecond)}/s of ${fmt(r.floodPublishedPerSecond)}/s sent · cores ${coresText(r.cores)}`,
    },
    want('ack') && {
      key: 'ack', label: `publish→ack at ${S.ackRate}/s (${S.ackPublishers} publishers)`, each: SERVERS,
      run: (s) => ackLatency(s, S.ackRate, S.ackPublishers, Number(process.env.BENCH_ACK_PROCS ?? 1)),
      say: (r) => `ack p50 ${fmt(r.p50, 2)} / p99 ${fmt(r.p99, 2)} / max ${fmt(r.ackMax, 1)} ms (${fmt(r.acked)} acked) · e2e p99 ${fmt(r.e2eP99, 2)} ms · publisher lag p99 ${fmt(r.publisherLagP99, 1)} ms · cores ${coresText(r.cores)}`,
    },
    want('memory') && {
      key: 'memory', label: `memory (${S.memoryConns} idle conns, 1 subscription each)`, each: SERVERS,
      run: (s) => memory(s, S.memoryConns),
      say: (r) => `${fmt(r.bytesPerConnection)} bytes/conn (all-in ${fmt(r.allInBytesPerConnection)})`,
    },
    want('idle') && {
      key: 'idle', label: `idle (${S.idleConns} authenticated conns, no subscription)`,
      each: SERVERS.filter((s) => ['hubbub', 'ws-shared'].includes(s.kind)),
      run: (s) => idle(s, S.idleConns),
      say: (r) => `${fmt(r.bytesPerConnection)} bytes/conn (all-in ${fmt(r.allInBytesPerConnection)}) · idle CPU ${fmt(r.idleCoresPerMillionConns, 2)} cores per million conns${r.closed ? ` · ${r.closed} closed` : ''}`,
    },
    want('presence') && SERVERS.includes(HUBBUB) && {
      key: 'presence', label: `presence churn (${S.presenceClients} clients, ${S.presenceChannels} channels, ${S.presenceRate} changes/s)`, each: [HUBBUB],
      run: (s) => presence(s),
      say: (r) => `event p50 ${fmt(r.p50, 1)} / p99 ${fmt(r.p99, 1)} ms (${fmt(r.samples)} samples, ${fmt(r.events)} events of ${fmt(r.expectedEvents)} watcher×changes) · RSS ${mib(r.rssStart)} → ${mib(r.rssMid)} → ${mib(r.rssEnd)} MiB · cores ${coresText(r.cores)}`,
    },
    want('storm') && SERVERS.includes(HUBBUB) && {
      key: 'storm', label: `reconnect storm (${S.stormClients} SDK clients, node restart)`, each: [HUBBUB],
      run: (s) => storm(s),
      say: (r) => `all caught up ${fmt(r.catchUpSeconds, 1)} s after the kill (p50 ${fmt(r.catchUpP50Seconds, 1)} s, node down ${fmt(r.downSeconds, 1)} s) · lost ${fmt(r.lost)} · discontinuities ${fmt(r.discontinuities)} · not caught up ${fmt(r.notCaughtUp)} · cores ${coresText(r.cores)}`,
    },
    want('redis') && {
      key: 'redis', label: `${many.replace('many channels', 'scale-out')}`,
      each: [
        { name: ONE_NODE, opts: {} },
        ...(S.oneNodeRedis ? [{ name: ONE_NODE_REDIS, opts: { redis: true } }] : []),
        { name: TWO_NODES, opts: { nodes: 2, redis: true } },
      ],
      run: (c) => throughput(HUBBUB, S.manyConns, channelNames(S.manyChannels, 'room-'), { ...MANY_PUBLISHERS, ...c.opts }),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s${r.crossNodeDeliveriesPerSecond ? ` (${fmt(r.crossNodeDeliveriesPerSecond)}/s cross-node)` : ''}${r.redisCpuPerPublishUs ? ` · Redis ${fmt(r.redisCpuPerPublishUs, 1)} µs per publish` : ''} · cores ${coresText(r.cores)} · load lag p99 ${fmt(r.loadLag.p99, 1)} ms`,
    },
    want('cluster') && {
      key: 'cluster', label: `${many.replace('many channels', 'Redis Cluster')}`,
      each: [
        { name: TWO_NODES, opts: { nodes: 2, redis: true } },
        { name: TWO_NODES_CLUSTER, opts: { nodes: 2, cluster: true } },
      ],
      run: (c) => throughput(HUBBUB, S.manyConns, channelNames(S.manyChannels, 'room-'), { ...MANY_PUBLISHERS, ...c.opts }),
      say: (r) => `${fmt(r.deliveriesPerSecond)} deliveries/s · CPU ${fmt(r.cpuPerMillion, 2)} s/M (nodes ${fmt(r.nodeCpuPerMillion, 2)}, Redis ${fmt(r.redisCpuPerMillion, 2)}; Redis ${fmt(r.redisCpuPerPublishUs, 1)} µs per publish) · cores ${coresText(r.cores)}`,
    },
  ].filter(Boolean);
  for (const w of plan) {
    for (let run = 1; run <= O.runs; run++) {
      for (const s of w.each) {
        progress(`[${run}/${O.runs}] ${w.label}: ${s.name}…`);
        const t0 = performance.now();
        let r;
        try {
          r = await w.run(s);
        } catch (err) {
          recordFailure(w.label, s.name, run, err);
          say(run, `${w.label} · ${s.name}`, `FAILED: ${err?.message ?? err}`);
          continue;
        }
        record(w.label, w.key, s.name, run, r);
        say(run, `${w.label} · ${s.name}`, `${w.say(r)} (${fmt((performance.now() - t0) / 1000, 1)} s)`);
      }
    }
  }
  report(machine, (performance.now() - started) / 1000);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
