import { O, S, sleep } from '../lib/context.mjs';
import { startServer, subscribers, rssBytes, channelNames, cpuSample, coresBetween } from '../lib/procs.mjs';

/** Resident bytes per idle connection with one subscription. */
export async function memory(server, conns) {
  const srv = await startServer(server);
  try {
    await sleep(O.quick ? 300 : 500);
    const base = rssBytes(srv.proc.pid);
    const subs = await subscribers(server, [srv.port], conns, channelNames(Math.ceil(conns / 10), 'idle-'));
    await sleep(O.quick ? 700 : 1500);
    const loaded = rssBytes(srv.proc.pid);
    subs.close();
    return { bytesPerConnection: (loaded - base) / conns };
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
  const srv = await startServer(server, ['--max-connections-per-app', String(conns + 1000)]);
  try {
    await sleep(O.quick ? 300 : 500);
    const base = rssBytes(srv.proc.pid);
    const subs = await subscribers(server, [srv.port], conns, ['idle'], 0, { idle: true, procs: Math.max(S.idleProcs, Math.ceil(conns / 9000)) });
    try {
      await sleep(O.quick ? 700 : 1500);
      const loaded = rssBytes(srv.proc.pid);
      // At least one heartbeat interval (15 s by default) in the full run, so that its cost is in the window.
      const windowMs = O.quick ? O.seconds * 1000 : Math.max(O.seconds * 1000, 16_000);
      const c0 = cpuSample({ server: [srv.proc.pid], subscribers: subs.pids });
      await sleep(windowMs);
      const c1 = cpuSample({ server: [srv.proc.pid], subscribers: subs.pids });
      const snap = await subs.snapshot();
      const cores = coresBetween(c0, c1);
      return {
        bytesPerConnection: (loaded - base) / conns,
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
