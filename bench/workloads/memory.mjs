import { O, S, sleep } from '../lib/context.mjs';
import { startServer, subscribers, rssBytes, channelNames, cpuSample, coresBetween } from '../lib/procs.mjs';

const SETTLE_MS = () => (O.quick ? 700 : 1500);

/**
 * Opens `conns` connections and reads the server's RSS before, halfway and at the end (each read
 * after the same settling pause). `bytesPerConnection` is what the second half of the connections
 * added, per connection: the cost of one more connection at that scale. `allInBytesPerConnection`
 * divides the whole growth by all of them, so it also carries what grows once whatever the count
 * (V8's young generation reaching its maximum size, code compiled under load).
 */
async function openAndMeasure(server, srv, conns, channels, opts) {
  await sleep(O.quick ? 300 : 500);
  const base = rssBytes(srv.proc.pid);
  let half;
  const halfway = async (opened) => {
    await sleep(SETTLE_MS());
    half = { opened, rss: rssBytes(srv.proc.pid) };
  };
  const subs = await subscribers(server, [srv.port], conns, channels, 0, { ...opts, halfway });
  await sleep(SETTLE_MS());
  const loaded = rssBytes(srv.proc.pid);
  return {
    subs,
    sizes: {
      bytesPerConnection: (loaded - half.rss) / (conns - half.opened),
      allInBytesPerConnection: (loaded - base) / conns,
      rssBase: base,
      rssHalf: half.rss,
      rssLoaded: loaded,
    },
  };
}

/** Resident bytes per idle connection with one subscription. */
export async function memory(server, conns) {
  const srv = await startServer(server);
  try {
    const { subs, sizes } = await openAndMeasure(server, srv, conns, channelNames(Math.ceil(conns / 10), 'idle-'));
    subs.close();
    return sizes;
  } finally {
    await srv.stop();
  }
}

/**
 * Idle: resident bytes per authenticated connection that subscribes to nothing, at S.idleConns
 * connections spread over S.idleProcs load processes (the open-file limit is per process), and the
 * server CPU those connections cost while idle (heartbeats, timers) over the measured window.
 */
export async function idle(server, conns) {
  const srv = await startServer(server);
  try {
    const { subs, sizes } = await openAndMeasure(server, srv, conns, ['idle'], { idle: true, procs: Math.max(S.idleProcs, Math.ceil(conns / 9000)) });
    try {
      // At least one heartbeat interval (15 s by default) in the full run, so that its cost is in the window.
      const windowMs = O.quick ? O.seconds * 1000 : Math.max(O.seconds * 1000, 16_000);
      const c0 = cpuSample({ server: [srv.proc.pid], subscribers: subs.pids });
      await sleep(windowMs);
      const c1 = cpuSample({ server: [srv.proc.pid], subscribers: subs.pids });
      const snap = await subs.snapshot();
      const cores = coresBetween(c0, c1);
      return {
        ...sizes,
        idleCoresPerMillionConns: (cores.server / conns) * 1e6,
        closed: snap.reduce((a, r) => a + r.closed, 0),
        cores,
      };
    } finally {
      subs.close();
    }
  } finally {
    await srv.stop();
  }
}
