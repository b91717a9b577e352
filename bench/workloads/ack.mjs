import { O, S, token, log, sleep } from '../lib/context.mjs';
import { summarize } from '../lib/hist.mjs';
import { startServer, child, subscribers, loadLag, cpuSample, coresBetween, channelNames } from '../lib/procs.mjs';

/** Publish→ack latency at a fixed total rate from many publishers (each channel with one subscriber). */
export async function ackLatency(server, rate, publishers, procs = 1) {
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
