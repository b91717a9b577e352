// Overload: the fan-out shape (2000 subscribers of one channel), first paced by acks (each publisher
// connection keeps 64 publishes in flight), then flooded (the same number of connections publishing
// as fast as their sockets take it, never waiting for an ack). Past capacity a server should keep its
// paced throughput, bounded memory, and slow the publishers down instead of cutting readers.
import { O, S, token, log, sleep, fmt } from '../lib/context.mjs';
import { startServer, child, subscribers, windowRate, loadLag, cpuSample, coresBetween, rssBytes } from '../lib/procs.mjs';

// A server past this is stopped early (the machine is shared): the row says so.
const RSS_CAP = Number(process.env.BENCH_FLOOD_RSS_CAP ?? 3 * 1024 ** 3);

export async function flood(server) {
  const srv = await startServer(server);
  const channels = ['flood'];
  const publishers = S.floodPublishers;
  const paced = child('load/publisher.mjs', { kind: server.kind, port: srv.port, token, channels, window: 64, publishers, payloadBytes: 100 });
  const unbounded = child('load/publisher.mjs', { kind: server.kind, port: srv.port, token, channels, window: 0, publishers, payloadBytes: 100 });
  let subs;
  try {
    const ready = Promise.all([paced.next('ready'), unbounded.next('ready')]);
    subs = await subscribers(server, [srv.port], S.fanoutSubs, channels);
    await ready;
    const groups = { server: [srv.proc.pid], subscribers: subs.pids, publishers: [paced.proc.pid, unbounded.proc.pid] };
    const windowMs = O.seconds * 1000;

    const phase = async (pub, watchRss) => {
      let peak = 0;
      let capped = false;
      let done;
      const stop = () => done ?? ((done = pub.next('done')), pub.send({ type: 'stop' }), done);
      const rssTimer = watchRss && setInterval(() => {
        const rss = rssBytes(srv.proc.pid);
        peak = Math.max(peak, rss);
        if (rss > RSS_CAP && !capped) {
          capped = true;
          void stop();
        }
      }, 100);
      try {
        pub.send({ type: 'start', ms: S.warmupMs + windowMs + 60_000 });
        await sleep(S.warmupMs);
        const [s0, c0] = [await subs.snapshot(), cpuSample(groups)];
        await sleep(windowMs);
        const [s1, c1] = [await subs.snapshot(), cpuSample(groups)];
        const final = await stop();
        const cores = coresBetween(c0, c1);
        const deliveriesPerSecond = windowRate(s0, s1);
        return {
          deliveriesPerSecond, cores, s0, s1, peak, capped,
          cpuPerMillion: (cores.server / deliveriesPerSecond) * 1e6,
          publishedPerSecond: final.published / ((S.warmupMs + windowMs) / 1000),
          ackedPerSecond: final.acked / ((S.warmupMs + windowMs) / 1000),
          errors: final.errors, lastError: final.lastError,
        };
      } finally {
        if (rssTimer) clearInterval(rssTimer);
      }
    };

    const a = await phase(paced, false);
    // Let the paced phase's last frames drain before the flood's memory is watched.
    await sleep(1000);
    const rssStart = rssBytes(srv.proc.pid);
    const closedBefore = (await subs.snapshot()).reduce((x, r) => x + r.closed, 0);
    const b = await phase(unbounded, true);
    const cut = b.s1.reduce((x, r) => x + r.closed, 0) - closedBefore;
    // What the flood left behind once publishing stopped: memory that does not come back is a leak or a backlog.
    await sleep(2000);
    const rssAfter = rssBytes(srv.proc.pid);
    if (b.capped) log(`  ${server.name}: RSS passed ${fmt(RSS_CAP / 2 ** 20)} MiB, the flood was stopped early`);
    if (cut) log(`  ${server.name}: ${cut} subscribers were cut during the flood`);
    if (b.errors) log(`  ${server.name}: ${b.errors} flood publishes refused (${b.lastError})`);
    return {
      deliveriesPerSecond: b.deliveriesPerSecond,
      pacedDeliveriesPerSecond: a.deliveriesPerSecond,
      ofPaced: b.deliveriesPerSecond / a.deliveriesPerSecond,
      cpuPerMillion: b.cpuPerMillion,
      pacedCpuPerMillion: a.cpuPerMillion,
      rssStart, rssPeak: Math.max(b.peak, rssAfter), rssAfter, rssCapped: b.capped ? 1 : 0,
      cut,
      floodPublishedPerSecond: b.publishedPerSecond, floodAckedPerSecond: b.ackedPerSecond, floodErrors: b.errors,
      cores: b.cores, pacedCores: a.cores, loadLag: loadLag(b.s1),
    };
  } finally {
    paced.kill();
    unbounded.kill();
    subs?.close();
    await srv.stop();
  }
}
