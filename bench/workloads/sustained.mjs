import { O, S, token, log, progress, sleep, fmt, coresText } from '../lib/context.mjs';
import { summarize } from '../lib/hist.mjs';
import { startServer, child, subscribers, windowRate, loadLag, cpuSample, coresBetween } from '../lib/procs.mjs';

/**
 * The highest publish rate to 2000 subscribers of one channel whose end-to-end p99 stays under 50 ms.
 * One server and one set of subscribers for the whole ladder of rates; each step has its warm-up
 * and its own measured window. Stops at the first step that misses (or loses subscribers).
 */
export async function sustained(server, rates) {
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
