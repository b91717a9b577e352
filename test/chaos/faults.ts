/**
 * The faults of a chaos run: a schedule drawn from the seed before the run starts (so the same seed
 * gives the same plan), and the code that applies each fault to the cluster and heals it again.
 * Faults come one after another (each applied, held, healed, then a breath before the next), and some
 * bring a second fault along that overlaps them: begun while the first is held, on another node (a
 * node paused while another is cut from Redis, Redis restarting while a node's clients are partitioned).
 * However they overlap, no more than a minority of the nodes is down (killed or stopped) at once, so a
 * majority of the cluster keeps serving.
 */
import type { Cluster } from './cluster.js';
import type { HistoryRecorder } from './history.js';
import type { Random } from './random.js';

export type FaultKind =
  /** SIGKILL a node, start it again on the same port after `holdMs`. */
  | 'kill-node'
  /** SIGSTOP a node for `holdMs` (longer than two heartbeats), then SIGCONT. */
  | 'pause-node'
  /** SIGKILL Redis, start it again (append-only file fsynced on every write) after `holdMs`. */
  | 'restart-redis'
  /** Reset every client connection through a node's door. */
  | 'drop-clients'
  /** Partition a node's clients from it for `holdMs`. */
  | 'partition-clients'
  /** Partition a node from Redis for `holdMs`. */
  | 'partition-redis'
  /** Send a node's clients to another node (`to`) for `holdMs`, as a load balancer would: they resume there, then come back. */
  | 'move-clients';

export const FAULT_KINDS: readonly FaultKind[] = ['kill-node', 'pause-node', 'restart-redis', 'drop-clients', 'partition-clients', 'partition-redis', 'move-clients'];

export interface Fault {
  /** Wait this long after the previous fault healed. */
  gapMs: number;
  kind: FaultKind;
  node: number;
  holdMs: number;
  /** For move-clients: the node they are sent to. */
  to?: number;
  /** A second fault begun `afterMs` after this one, on another node; the pair is over when both healed. */
  overlap?: { afterMs: number; fault: Fault };
}

/** How many planned faults bring a second one along (a share: one in OVERLAP_ONE_IN). */
const OVERLAP_ONE_IN = 3;

/** Faults that take a node out: a killed or stopped node serves nobody. */
const DOWN_KINDS: readonly FaultKind[] = ['kill-node', 'pause-node'];

export interface ScheduleOptions {
  seconds: number;
  nodes: number;
  heartbeatMs: number;
  kinds?: readonly FaultKind[];
}

/**
 * The last fault, right before the quiet: one that leaves presence to converge afterwards (ghost
 * members of a killed or stopped node, or of a node cut from Redis past its TTL, to be reaped; clients
 * to re-enter), so the presence check measures a convergence rather than a calm.
 */
export function finalFault(rng: Random, options: ScheduleOptions & { nodeTtlMs: number }): Fault {
  const kind = rng.pick(['kill-node', 'pause-node', 'partition-redis'] as const);
  const holdMs = kind === 'partition-redis' ? 2 * options.nodeTtlMs + rng.int(500, 2000) : holdFor(kind, rng, options.heartbeatMs);
  return { gapMs: 0, kind, node: rng.int(0, options.nodes - 1), holdMs };
}

/** Faults to fill about `seconds` (the harness stops applying them when time is up). */
export function schedule(rng: Random, options: ScheduleOptions): Fault[] {
  const kinds = options.kinds ?? FAULT_KINDS;
  const faults: Fault[] = [];
  let planned = 0;
  while (planned < options.seconds * 1000) {
    const kind = rng.pick(kinds);
    const node = rng.int(0, options.nodes - 1);
    const fault: Fault = { gapMs: rng.int(1000, 4000), kind, node, holdMs: holdFor(kind, rng, options.heartbeatMs) };
    if (kind === 'move-clients') fault.to = (node + rng.int(1, options.nodes - 1)) % options.nodes;
    if (rng.int(1, OVERLAP_ONE_IN) === 1) {
      const overlap = overlapFor(fault, rng, options, kinds);
      if (overlap) fault.overlap = overlap;
    }
    faults.push(fault);
    planned += fault.gapMs + spanOf(fault);
  }
  return faults;
}

/** From a fault's start to the heal of the last of it (its overlap included). */
export function spanOf(fault: Fault): number {
  return Math.max(fault.holdMs, fault.overlap ? fault.overlap.afterMs + fault.overlap.fault.holdMs : 0);
}

/**
 * A second fault to overlap `first`, or none when no kind fits: on a node `first` leaves alone (not
 * its node, not where it moves clients to), Redis restarted only once at a time, and nodes down at once
 * no more than a minority.
 */
function overlapFor(first: Fault, rng: Random, options: ScheduleOptions, kinds: readonly FaultKind[]): Fault['overlap'] {
  const minority = Math.floor((options.nodes - 1) / 2);
  const busy = new Set([first.node, ...(first.to !== undefined ? [first.to] : [])]);
  const free = Array.from({ length: options.nodes }, (_, i) => i).filter((n) => !busy.has(n));
  const fits = kinds.filter((kind) => {
    if (kind === 'restart-redis' && first.kind === 'restart-redis') return false;
    if (DOWN_KINDS.includes(kind) && Number(DOWN_KINDS.includes(first.kind)) + 1 > minority) return false;
    // Moving clients needs a third node to send them to, one the first fault leaves alone too.
    if (kind === 'move-clients' && free.length < 2) return false;
    return free.length > 0;
  });
  if (!fits.length) return undefined;
  const kind = rng.pick(fits);
  const node = rng.pick(free);
  const fault: Fault = { gapMs: 0, kind, node, holdMs: holdFor(kind, rng, options.heartbeatMs) };
  if (kind === 'move-clients') fault.to = rng.pick(free.filter((n) => n !== node));
  return { afterMs: rng.int(0, Math.max(0, first.holdMs - 200)), fault };
}

function holdFor(kind: FaultKind, rng: Random, heartbeatMs: number): number {
  switch (kind) {
    case 'kill-node':
    case 'restart-redis':
      return rng.int(300, 2500);
    case 'pause-node':
      // Longer than two heartbeats, so both sides give the other up.
      return 2 * heartbeatMs + rng.int(500, 3000);
    case 'drop-clients':
      return 0;
    case 'partition-clients':
    case 'partition-redis':
      return rng.int(500, 3 * heartbeatMs);
    case 'move-clients':
      return rng.int(1000, 5000);
  }
}

export function describeFault(f: Fault): string {
  const one = `${f.kind}${f.kind === 'restart-redis' ? '' : ` node ${f.node}`}${f.to !== undefined ? ` to node ${f.to}` : ''}${f.holdMs ? ` for ${f.holdMs} ms` : ''}`;
  return f.overlap ? `${one}, with ${describeFault(f.overlap.fault)} from ${f.overlap.afterMs} ms in` : one;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Apply a fault and its overlap, hold them, heal them; every step goes into the history. */
export async function apply(fault: Fault, cluster: Cluster, history: HistoryRecorder): Promise<void> {
  const { overlap } = fault;
  if (!overlap) return applyOne(fault, cluster, history);
  await Promise.all([applyOne(fault, cluster, history), sleep(overlap.afterMs).then(() => applyOne(overlap.fault, cluster, history))]);
}

async function applyOne(fault: Fault, cluster: Cluster, history: HistoryRecorder): Promise<void> {
  const node = cluster.nodes[fault.node]!;
  const target = fault.kind === 'restart-redis' ? 'redis' : `node ${fault.node}`;
  history.record({ kind: 'fault', fault: fault.kind, target, detail: `hold ${fault.holdMs} ms` });
  switch (fault.kind) {
    case 'kill-node':
      await node.kill();
      await sleep(fault.holdMs);
      await node.restart();
      break;
    case 'pause-node':
      node.pause();
      await sleep(fault.holdMs);
      node.resume();
      break;
    case 'restart-redis':
      await cluster.redis.kill();
      await sleep(fault.holdMs);
      await cluster.redis.restart();
      break;
    case 'drop-clients':
      node.door.cut();
      break;
    case 'partition-clients':
      node.door.partition();
      await sleep(fault.holdMs);
      node.door.heal();
      break;
    case 'partition-redis':
      node.redisLink.partition();
      await sleep(fault.holdMs);
      node.redisLink.heal();
      break;
    case 'move-clients':
      node.door.retarget(cluster.nodes[fault.to!]!.port);
      node.door.cut();
      await sleep(fault.holdMs);
      node.door.retarget(node.port);
      node.door.cut();
      break;
  }
  history.record({ kind: 'fault', fault: `healed ${fault.kind}`, target });
}
