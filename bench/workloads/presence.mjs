// Presence churn: S.presenceClients clients over S.presenceChannels channels, each watching its
// channel's presence, entering and leaving in turn at S.presenceRate changes/s in total. Measures the
// change→event latency at every watcher, and the server's RSS before, halfway and at the end of the
// churn (flat: what the second half adds is small).
import { S, SIGNING_KEY, sleep, log } from '../lib/context.mjs';
import { summarize } from '../lib/hist.mjs';
import { startServer, child, cpuSample, coresBetween, rssBytes, channelNames } from '../lib/procs.mjs';

const PROCS = 2;

export async function presence(server) {
  if (server.kind !== 'hubbub') throw new Error('presence runs on Hubbub only');
  const srv = await startServer(server);
  const channels = channelNames(S.presenceChannels, 'pres-');
  const perChannel = Math.round(S.presenceClients / S.presenceChannels);
  const procs = Array.from({ length: PROCS }, (_, k) => child('load/presence.mjs', {
    port: srv.port, app: 'bench', signingKey: SIGNING_KEY, perChannel, channels: channels.filter((_, i) => i % PROCS === k),
  }));
  try {
    await Promise.all(procs.map((p) => p.next('ready')));
    await sleep(500);
    const rssStart = rssBytes(srv.proc.pid);
    const groups = { server: [srv.proc.pid], load: procs.map((p) => p.proc.pid) };
    const ms = S.presenceSeconds * 1000;
    const done = Promise.all(procs.map((p) => p.next('done')));
    const c0 = cpuSample(groups);
    for (const p of procs) p.send({ type: 'start', rate: S.presenceRate / PROCS, ms });
    await sleep(ms / 2);
    const rssMid = rssBytes(srv.proc.pid);
    await sleep(ms / 2);
    const c1 = cpuSample(groups);
    const rs = await done;
    const rssEnd = rssBytes(srv.proc.pid);
    const lat = summarize(rs.map((r) => r.latencies));
    const sum = (k) => rs.reduce((a, r) => a + r[k], 0);
    if (sum('errors')) log(`  presence: ${sum('errors')} errors (${rs.find((r) => r.lastError)?.lastError})`);
    return {
      p50: lat.p50, p99: lat.p99, presenceMax: lat.max, samples: lat.n,
      changesPerSecond: sum('changes') / (ms / 1000),
      events: sum('events'), expectedEvents: sum('expectedEvents'), errors: sum('errors'), closed: sum('closed'),
      rssStart, rssMid, rssEnd,
      cores: coresBetween(c0, c1),
      loadLag: { p99: Math.max(...rs.map((r) => r.lagP99)), max: NaN },
    };
  } finally {
    for (const p of procs) p.kill();
    await srv.stop();
  }
}
