import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './redis.js';

const run = promisify(execFile);

/** Both redis-server and redis-cli are here; in CI (CI=true) their absence fails the run instead of skipping. */
export function redisClusterAvailable(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    execFileSync('redis-cli', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.CI) throw new Error('redis-server or redis-cli is missing: the CI machine must have both');
    console.warn('\n*** SKIPPING Redis Cluster tests: redis-server or redis-cli not found ***\n');
    return false;
  }
}

export interface ClusterNodeProcess {
  port: number;
  busPort: number;
  proc?: ChildProcess;
}

/** A line of CLUSTER NODES, as much of it as tests need. */
interface NodeLine {
  port: number;
  role: 'master' | 'slave';
  id: string;
  masterId: string;
  failed: boolean;
  slots: Array<[number, number]>;
}

/**
 * A Redis Cluster of the test's own: 3 masters and 3 replicas of the local redis-server on free ports in
 * a temp dir, append-only with fsync on every write, so a SIGKILL loses nothing acked. Short node
 * timeout, so a killed node is marked failed within seconds.
 */
export class TestRedisCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'hubbub-redis-cluster-'));
  private constructor(readonly nodes: ClusterNodeProcess[]) {}

  static async start(size = 6): Promise<TestRedisCluster> {
    const nodes: ClusterNodeProcess[] = [];
    const taken = new Set<number>();
    while (nodes.length < size) {
      const port = await freePort();
      const busPort = await freePort();
      if (taken.has(port) || taken.has(busPort) || port === busPort) continue;
      taken.add(port).add(busPort);
      nodes.push({ port, busPort });
    }
    const cluster = new TestRedisCluster(nodes);
    try {
      await Promise.all(nodes.map((n) => cluster.launch(n)));
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
      await cluster.waitHealthy(nodes.map((n) => n.port));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Seed nodes for `--redis`: the first three (the rest is discovered). */
  get url(): string {
    return `redis+cluster://${this.nodes
      .slice(0, 3)
      .map((n) => `127.0.0.1:${n.port}`)
      .join(',')}`;
  }

  private async launch(node: ClusterNodeProcess): Promise<void> {
    const dir = join(this.dir, String(node.port));
    mkdirSync(dir, { recursive: true });
    node.proc = spawn(
      'redis-server',
      [
        '--port', String(node.port),
        '--cluster-port', String(node.busPort),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, 'nodes.conf'),
        '--cluster-node-timeout', '1500',
        '--save', '',
        '--appendonly', 'yes',
        '--appendfsync', 'always',
        '--dir', dir,
      ],
      { stdio: 'ignore' },
    );
    await this.waitFor(async () => (await this.command(node.port, 'PING')) === 'PONG', `redis-server on ${node.port}`);
  }

  /** One command on one node, on a link of its own; undefined when the node does not answer. */
  async command(port: number, ...args: string[]): Promise<unknown> {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return await probe.call(args[0], ...args.slice(1));
    } catch {
      return undefined;
    } finally {
      probe.disconnect();
    }
  }

  /** Every given node says cluster_state:ok, and they agree on who serves all 16384 slots. */
  async waitHealthy(ports = this.alive().map((n) => n.port)): Promise<void> {
    await this.waitFor(async () => {
      for (const port of ports) {
        const info = String((await this.command(port, 'CLUSTER', 'INFO')) ?? '');
        if (!info.includes('cluster_state:ok')) return false;
      }
      const views = await Promise.all(ports.map((p) => this.masterPorts(p)));
      return views.every((v) => v.join() === views[0].join() && v.length === 3);
    }, 'cluster_state:ok on every node');
  }

  /** The node lines as `port` sees them. */
  private async view(port: number): Promise<NodeLine[]> {
    const text = String((await this.command(port, 'CLUSTER', 'NODES')) ?? '');
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [id, addr, flags, masterId, , , , , ...slots] = line.split(' ');
        return {
          id,
          masterId,
          port: Number(/:(\d+)@/.exec(addr)![1]),
          role: flags.includes('master') ? 'master' : 'slave',
          failed: flags.includes('fail'),
          slots: slots.filter((s) => /^\d/.test(s)).map((s) => (s.includes('-') ? (s.split('-').map(Number) as [number, number]) : [Number(s), Number(s)])),
        } as NodeLine;
      });
  }

  private async masterPorts(port: number): Promise<number[]> {
    return (await this.view(port))
      .filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0)
      .map((n) => n.port)
      .sort();
  }

  /** The slot a key (or shard channel) hashes to, as Redis computes it. */
  async keyslot(key: string): Promise<number> {
    return Number(await this.command(this.alive()[0].port, 'CLUSTER', 'KEYSLOT', key));
  }

  /** The port of the master serving `slot`. */
  async masterOfSlot(slot: number): Promise<number> {
    const lines = await this.view(this.alive()[0].port);
    const master = lines.find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!master) throw new Error(`no master serves slot ${slot}`);
    return master.port;
  }

  /** A replica of the master on `port`, once it is known to the master and in sync with it. */
  async replicaOf(port: number): Promise<number> {
    let found: number | undefined;
    await this.waitFor(async () => {
      const lines = await this.view(port);
      const master = lines.find((n) => n.port === port);
      const replica = lines.find((n) => n.role === 'slave' && n.masterId === master?.id && !n.failed);
      if (!replica) return false;
      const info = String((await this.command(replica.port, 'INFO', 'replication')) ?? '');
      found = replica.port;
      return info.includes('master_link_status:up');
    }, `a replica of ${port} in sync`);
    return found!;
  }

  /**
   * Promote `replicaPort` (CLUSTER FAILOVER: the old master stops writes until the replica caught up,
   * so nothing acked is lost) and wait until it serves its slots.
   */
  async failover(replicaPort: number): Promise<void> {
    const reply = await this.command(replicaPort, 'CLUSTER', 'FAILOVER');
    if (reply !== 'OK') throw new Error(`CLUSTER FAILOVER on ${replicaPort} said ${String(reply)}`);
    await this.waitFor(async () => String((await this.command(replicaPort, 'ROLE')) ?? '').startsWith('master'), `${replicaPort} promoted`);
  }

  /** SIGKILL one node. */
  async kill(port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port)!;
    const proc = node.proc;
    node.proc = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }

  alive(): ClusterNodeProcess[] {
    return this.nodes.filter((n) => n.proc && n.proc.exitCode === null && n.proc.signalCode === null);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.port)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
