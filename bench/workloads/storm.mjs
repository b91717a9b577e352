// Reconnect storm: S.stormClients SDK clients (S.stormProcs processes) on node A, attached to
// S.stormChannels channels, while a publisher on node B (same Redis, so history outlives node A)
// publishes S.stormRate/s. Node A is killed (SIGKILL) and started again on the same port and data dir;
// the clients come back with the SDK's own backoff and jitter, resubscribe from their last serial, and
// are caught up once they get a message at or past the serial their channel had when A was back.
// Lost: serials published after the mark that a client never got (must be 0).
import { O, S, token, log, sleep, fmt } from '../lib/context.mjs';
import { startServer, startRedis, child, freePort, cpuSample, coresBetween, channelNames } from '../lib/procs.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function storm(server) {
  if (server.kind !== 'hubbub') throw new Error('storm runs on Hubbub only');
  const cleanup = [];
  try {
    const rs = await startRedis();
    cleanup.unshift(rs.stop);
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-bench-storm-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const nodeArgs = ['--redis', rs.url];
    let nodeA = await startServer(server, nodeArgs, { port, dataDir });
    cleanup.unshift(() => nodeA.stop());
    const nodeB = await startServer(server, nodeArgs);
    cleanup.unshift(nodeB.stop);
    const channels = channelNames(S.stormChannels, 'storm-');
    const pub = child('load/storm-publisher.mjs', { port: nodeB.port, token, channels, rate: S.stormRate });
    cleanup.unshift(pub.kill);
    const per = Math.ceil(S.stormClients / S.stormProcs);
    const procs = Array.from({ length: S.stormProcs }, (_, k) => child('load/storm-clients.mjs', {
      port, token, channels, first: k * per, count: Math.min(per, S.stormClients - k * per),
    }));
    cleanup.unshift(() => procs.forEach((p) => p.kill()));
    const t0 = performance.now();
    await Promise.all([pub.next('ready'), ...procs.map((p) => p.next('ready'))]);
    if (process.env.BENCH_DEBUG) log(`  ${S.stormClients} SDK clients attached in ${fmt(performance.now() - t0)} ms`);
    pub.send({ type: 'start' });
    await sleep(O.quick ? 1000 : 2000);
    const ask = (type, reply, extra = {}) => Promise.all(procs.map((p) => (p.send({ type, ...extra }), p.next(reply))));
    await ask('mark', 'marked');
    const killedAt = performance.timeOrigin + performance.now();
    // The restart: SIGKILL (no goodbye to the clients), then the same command on the same port.
    await nodeA.stop();
    nodeA = await startServer(server, nodeArgs, { port, dataDir });
    const backAt = performance.timeOrigin + performance.now();
    const groups = { nodeA: [nodeA.proc.pid], nodeB: [nodeB.proc.pid], redis: [rs.proc.pid], clients: procs.map((p) => p.proc.pid) };
    const c0 = cpuSample(groups);
    const { serials: atBack } = await (pub.send({ type: 'serials' }), pub.next('serials'));
    await ask('target', 'targeted', { serials: atBack });
    const limitMs = O.quick ? 40_000 : 120_000;
    let status;
    for (;;) {
      status = await ask('status', 'status');
      const caughtUp = status.reduce((a, s) => a + s.caughtUp, 0);
      const elapsed = performance.timeOrigin + performance.now() - killedAt;
      if (caughtUp >= S.stormClients || elapsed > limitMs) break;
      await sleep(250);
    }
    const c1 = cpuSample(groups);
    // A little more traffic after the last client caught up, so that a loss at the end would show.
    await sleep(1000);
    const final = await (pub.send({ type: 'stop' }), pub.next('stopped'));
    if (final.errors) log(`  storm: ${final.errors} publishes refused (${final.lastError})`);
    await sleep(500);
    const reports = await ask('report', 'report', { serials: final.serials, killedAt });
    const times = reports.flatMap((r) => r.times).sort((a, b) => a - b);
    const reattach = reports.flatMap((r) => r.reattach).sort((a, b) => a - b);
    const sum = (k) => reports.reduce((a, r) => a + r[k], 0);
    const at = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] : NaN);
    const notCaughtUp = sum('notCaughtUp');
    if (notCaughtUp) log(`  storm: ${notCaughtUp} of ${S.stormClients} clients not caught up within ${limitMs / 1000} s`);
    // Cores from node A's return until the last client caught up: the recovery's cost.
    const cores = coresBetween(c0, c1);
    return {
      catchUpSeconds: notCaughtUp ? NaN : times.at(-1) / 1000,
      catchUpP50Seconds: at(times, 0.5) / 1000,
      reattachP50Seconds: at(reattach, 0.5) / 1000,
      downSeconds: (backAt - killedAt) / 1000,
      lost: sum('lost'), notCaughtUp, discontinuities: sum('discontinuities'),
      published: Object.values(final.serials).reduce((a, b) => a + b, 0), unacked: final.unacked,
      clients: S.stormClients,
      cores,
    };
  } finally {
    for (const f of cleanup) await f();
  }
}
