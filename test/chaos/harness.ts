/**
 * One chaos run: a cluster of `hubbub serve --redis` nodes (cluster.ts), SDK publishers and
 * subscribers and SSE readers on them (clients.ts), Foony SDK subscribers over WebSocket (binary
 * dialect) and long-polling and a Foony publisher (foony-clients.ts), REST publishers
 * (rest-publisher.ts), a seeded schedule of faults (faults.ts) applied
 * while traffic flows, then quiet: everything healed, traffic stopped, subscribers given time to catch
 * up, presence and every channel's history read. The checker (checker.ts) then reads the history.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { SIGNING_KEY } from '../support/server.js';
import { check, formatAnomalies, type CheckSummary } from './checker.js';
import { Cluster, SHORT_HISTORY, SHORT_NAMESPACE } from './cluster.js';
import { PresenceWatcher, Publisher, SseReader, Subscriber, type ClientContext } from './clients.js';
import { FoonyPublisher, FoonySubscriber } from './foony-clients.js';
import { RestPublisher } from './rest-publisher.js';
import { apply, describeFault, finalFault, schedule, spanOf, type Fault, type FaultKind } from './faults.js';
import { HistoryRecorder } from './history.js';
import { Random } from './random.js';

export interface ChaosOptions {
  seed: number;
  /** How long faults are applied, traffic flowing. */
  seconds: number;
  nodes?: number;
  publishers?: number;
  subscribers?: number;
  sseReaders?: number;
  /** Foony SDK subscribers on binary WebSocket connections. */
  binarySubscribers?: number;
  /** Foony SDK subscribers long-polling. */
  longPollSubscribers?: number;
  /** Foony SDK publishers (binary WebSocket). */
  foonyPublishers?: number;
  /** Publishers over REST `POST /channels/:channel/messages`. */
  restPublishers?: number;
  channels?: number;
  heartbeatMs?: number;
  nodeTtlMs?: number;
  kinds?: readonly FaultKind[];
  /** Write the history and node logs even when nothing is wrong. */
  keep?: boolean;
  /** Where progress goes (default: nowhere). */
  log?: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  faults: Fault[];
  /** Faults applied, each of an overlapping pair counted. */
  applied: number;
  /** Of them, the ones applied while another was held. */
  overlapped: number;
  summary: CheckSummary;
  /** Where the history (and node logs) of a run with anomalies were written. */
  reportDir?: string;
  report: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PRESENCE_CHANNEL = 'chaos-presence';

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const nodes = options.nodes ?? 3;
  const heartbeatMs = options.heartbeatMs ?? 2000;
  const nodeTtlMs = options.nodeTtlMs ?? 3000;
  const log = options.log ?? (() => undefined);
  const rng = new Random(options.seed);
  const plan = rng.fork();
  const faults = schedule(plan, { seconds: options.seconds, nodes, heartbeatMs, kinds: options.kinds });
  const last = finalFault(plan, { seconds: options.seconds, nodes, heartbeatMs, nodeTtlMs });
  log(`chaos seed ${options.seed}: ${options.seconds} s, ${nodes} nodes, ${faults.length} faults planned, then ${describeFault(last)}`);
  const history = new HistoryRecorder();
  const cluster = await Cluster.start({ nodes, heartbeatMs, nodeTtlMs });
  const ctx: ClientContext = { history, token, wsUrl: (n) => cluster.wsUrl(n), httpUrl: (n) => cluster.httpUrl(n), nodes, heartbeatMs };
  // One channel with a short history, the others keeping all a run publishes.
  const channels = [...Array.from({ length: options.channels ?? 4 }, (_, i) => `chaos-${i}`), `${SHORT_NAMESPACE}:chaos`];
  const publishers: Array<Publisher | FoonyPublisher | RestPublisher> = [];
  const subscribers: Array<Subscriber | FoonySubscriber> = [];
  const readers: SseReader[] = [];
  const watchers: PresenceWatcher[] = [];
  let applied = 0;
  let overlapped = 0;
  try {
    const picks = rng.fork();
    for (let i = 0; i < (options.subscribers ?? 16); i++) {
      const mine = channels.filter(() => picks.next() < 0.5);
      subscribers.push(await Subscriber.open(`sub-${i}`, i % nodes, mine.length ? mine : [picks.pick(channels)], i % 2 === 0 ? PRESENCE_CHANNEL : undefined, ctx));
    }
    for (let i = 0; i < (options.sseReaders ?? 3); i++) {
      const reader = new SseReader(`sse-${i}`, [channels[i % channels.length]!, channels[(i + 1) % channels.length]!], rng.fork(), ctx);
      readers.push(reader);
      reader.start();
    }
    for (let i = 0; i < nodes; i++) watchers.push(await PresenceWatcher.open(`watch-${i}`, i, PRESENCE_CHANNEL, ctx));
    for (let i = 0; i < (options.publishers ?? 8); i++) publishers.push(await Publisher.open(`pub-${i}`, i % nodes, channels, rng.fork(), ctx));
    // The other dialects' clients draw after the Hubbub SDK's, so those keep the choices a seed gave them before.
    const foonyPicks = rng.fork();
    const someChannels = () => {
      const mine = channels.filter(() => foonyPicks.next() < 0.5);
      return mine.length ? mine : [foonyPicks.pick(channels)];
    };
    for (let i = 0; i < (options.binarySubscribers ?? 2); i++) subscribers.push(await FoonySubscriber.open(`bin-${i}`, (i + 1) % nodes, someChannels(), 'websocket', ctx));
    for (let i = 0; i < (options.longPollSubscribers ?? 2); i++) subscribers.push(await FoonySubscriber.open(`lp-${i}`, (i + 2) % nodes, someChannels(), 'long-polling', ctx));
    for (let i = 0; i < (options.foonyPublishers ?? 1); i++) publishers.push(FoonyPublisher.open(`foony-pub-${i}`, (i + 1) % nodes, channels, rng.fork(), ctx));
    for (let i = 0; i < (options.restPublishers ?? 1); i++) publishers.push(new RestPublisher(`rest-${i}`, (i + 2) % nodes, channels, rng.fork(), ctx));
    const count = (kind: string, n: number) => `${n} ${kind}`;
    log(
      [
        count('subscribers', subscribers.filter((s) => s instanceof Subscriber).length),
        count('binary (Foony) subscribers', options.binarySubscribers ?? 2),
        count('long-poll subscribers', options.longPollSubscribers ?? 2),
        count('SSE readers', readers.length),
        count('presence watchers', watchers.length),
        count('publishers', publishers.filter((p) => p instanceof Publisher).length),
        count('Foony publishers', publishers.filter((p) => p instanceof FoonyPublisher).length),
        count('REST publishers', publishers.filter((p) => p instanceof RestPublisher).length),
      ].join(', ') + ` on ${channels.length} channels`,
    );
    for (const p of publishers) p.start();

    const deadline = performance.now() + options.seconds * 1000;
    for (const fault of faults) {
      await sleep(fault.gapMs);
      if (performance.now() + spanOf(fault) > deadline) break;
      applied += fault.overlap ? 2 : 1;
      if (fault.overlap) overlapped++;
      log(`  fault ${applied}: ${describeFault(fault)}`);
      await apply(fault, cluster, history);
    }
    await sleep(Math.max(0, deadline - performance.now()));
    log(`  fault ${++applied} (last): ${describeFault(last)}`);
    await apply(last, cluster, history);

    await cluster.healAll();
    const quietAt = performance.now();
    history.record({ kind: 'note', text: 'quiet: faults over, everything healed' });
    log('quiet: waiting for publishes to settle and subscribers to catch up');
    const expected = subscribers.filter((s) => s instanceof Subscriber && s.present).map((s) => s.name);
    const giveUp = quietAt + presenceBound(nodeTtlMs) + 5000;
    const rest = restPresence(cluster.httpUrl(0));
    const presence = Promise.all([
      watchPresence('rest', rest, expected, quietAt, giveUp, history),
      ...watchers.map((w) => watchPresence(w.name, () => w.members(), expected, quietAt, giveUp, history)),
    ]);
    await settled(publishers, history, 30_000);
    await caughtUp(history, 15_000);
    await presence;
    for (const channel of channels) {
      const retained = channel.startsWith(`${SHORT_NAMESPACE}:`) ? { retained: SHORT_HISTORY } : {};
      history.record({ kind: 'history', channel, entries: await readHistory(cluster.httpUrl(0), channel), ...retained });
    }
    for (const s of subscribers) s.close(history);
    await Promise.all(readers.map((r) => r.close(history)));
  } finally {
    for (const p of publishers) p.close();
    for (const w of watchers) w.close();
    for (const s of subscribers) s.close(history);
    await Promise.all(readers.map((r) => r.close(history)));
    await cluster.stop();
  }

  const summary = check(history.events, { presenceBoundMs: presenceBound(nodeTtlMs) });
  const errors = Object.entries(summary.errors).map(([code, n]) => `${code}×${n}`).join(' ') || 'none';
  const presence = history.events.filter((e) => e.kind === 'presence').map((e) => `${e.observer} ${e.actual.length}/${e.expected.length} after ${e.sinceQuietMs} ms`);
  const lines = [
    `chaos seed ${options.seed}: ${applied} faults applied (${overlapped} while another was held), ${summary.publishes} publishes (${summary.acknowledged} acked; failed attempts: ${errors}), ` +
      `${summary.deliveries} deliveries, ${summary.owed} owed deliveries checked, ${summary.discontinuities} discontinuities, presence (${presence.join(', ')}): ${summary.anomalies.length} anomalies`,
  ];
  let reportDir: string | undefined;
  if (summary.anomalies.length || options.keep) {
    reportDir = mkdtempSync(join(tmpdir(), `hubbub-chaos-${options.seed}-`));
    writeFileSync(join(reportDir, 'history.jsonl'), history.toJsonLines());
    writeFileSync(join(reportDir, 'nodes.log'), cluster.nodes.flatMap((n) => n.logs()).join('\n'));
    if (summary.anomalies.length) lines.push(formatAnomalies(summary.anomalies));
    lines.push(`history and node logs in ${reportDir}; rerun with --seed ${options.seed}`);
  }
  return { seed: options.seed, faults, applied, overlapped, summary, reportDir, report: lines.join('\n') };
}

/** docs/scale-out.md: members held through a dead node leave within the node TTL plus a reaper round; clients need a reconnect on top. */
export function presenceBound(nodeTtlMs: number): number {
  return nodeTtlMs + nodeTtlMs / 3 + 5000;
}

function token(clientId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ app: 'foony' }).setProtectedHeader({ alg: 'HS256' }).setSubject(clientId).setIssuedAt(now).setExpirationTime(now + 3600).sign(new TextEncoder().encode(SIGNING_KEY));
}

/** Stop the publishers; one whose publish is still in flight after the timeout is noted, not waited for. */
async function settled(publishers: Array<{ stop(): Promise<void> }>, history: HistoryRecorder, timeoutMs: number): Promise<void> {
  const stopped = Promise.all(publishers.map((p) => p.stop())).then(() => true);
  if (!(await Promise.race([stopped, sleep(timeoutMs).then(() => false)]))) {
    history.record({ kind: 'note', text: `publishes still in flight ${timeoutMs} ms after the faults` });
  }
}

/** Wait until no subscriber has received anything for two seconds (or the timeout). */
async function caughtUp(history: HistoryRecorder, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let seen = -1;
  while (performance.now() < deadline) {
    const delivered = history.events.filter((e) => e.kind === 'deliver').length;
    if (delivered === seen) return;
    seen = delivered;
    await sleep(2000);
  }
}

/** The members the REST API lists, one per connection. */
function restPresence(http: string): () => Promise<string[]> {
  const auth = token('chaos-watcher').then((t) => ({ authorization: `Bearer ${t}` }));
  return async () => {
    const res = await fetch(`${http}/channels/${PRESENCE_CHANNEL}/presence?limit=1000`, { headers: await auth });
    if (!res.ok) throw new Error(`presence: ${res.status}`);
    return ((await res.json()) as Array<{ clientId: string }>).map((m) => m.clientId).sort();
  };
}

/** Poll what an observer sees until it lists exactly the expected members (or the give-up time), then record it. */
async function watchPresence(observer: string, look: () => Promise<string[]>, expected: string[], quietAt: number, giveUp: number, history: HistoryRecorder): Promise<void> {
  const want = [...expected].sort().join(',');
  let actual: string[] = [];
  for (;;) {
    try {
      actual = await look();
    } catch {
      // the node is still coming back, or the watcher is reconnecting: look again
    }
    if (actual.join(',') === want || performance.now() > giveUp) break;
    await sleep(250);
  }
  history.record({ kind: 'presence', channel: PRESENCE_CHANNEL, observer, expected, actual, sinceQuietMs: Math.round(performance.now() - quietAt) });
}

/** A channel's whole history, oldest first, page by page through the Link header. */
async function readHistory(http: string, channel: string): Promise<Array<{ msgId: string; serial: number }>> {
  const auth = { authorization: `Bearer ${await token('chaos-reader')}` };
  const entries: Array<{ msgId: string; serial: number }> = [];
  let path: string | undefined = `/channels/${encodeURIComponent(channel)}/messages?direction=forwards&limit=1000`;
  while (path) {
    const res: Response = await fetch(`${http}${path}`, { headers: auth });
    if (!res.ok) throw new Error(`history of ${channel}: ${res.status} ${await res.text()}`);
    for (const m of (await res.json()) as Array<{ id: string; serial: number }>) entries.push({ msgId: m.id, serial: m.serial });
    path = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
  }
  return entries;
}
