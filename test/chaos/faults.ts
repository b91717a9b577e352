/**
 * The faults of a chaos run: a schedule drawn from the seed before the run starts (so the same seed
 * gives the same plan), and the code that applies each fault to the cluster and heals it again.
 * One fault at a time: each is applied, held, healed, then the cluster gets a breath before the next.
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
}

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
    faults.push(fault);
    planned += fault.gapMs + fault.holdMs;
  }
  return faults;
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
  return `${f.kind}${f.kind === 'restart-redis' ? '' : ` node ${f.node}`}${f.to !== undefined ? ` to node ${f.to}` : ''}${f.holdMs ? ` for ${f.holdMs} ms` : ''}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Apply one fault, hold it, heal it; every step goes into the history. */
export async function apply(fault: Fault, cluster: Cluster, history: HistoryRecorder): Promise<void> {
  const node = cluster.nodes[fault.node]!;
  const target = fault.kind === 'restart-redis' ? 'redis' : `node ${fault.node}`;
  history.record({ kind: 'fault', fault: fault.kind, target, detail: `hold ${fault.holdMs} ms` });
  switch (fault.kind) {
    case 'kill-node':
      await node.kill();
      await sleep(fault.holdMs);
      await node.start();
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
