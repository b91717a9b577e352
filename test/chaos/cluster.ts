/**
 * What the chaos harness runs and breaks: one TestRedis, N real `hubbub serve --redis` processes, each
 * reaching Redis through a FaultProxy of its own (to partition it from Redis), and a "door" FaultProxy
 * in front of each node that its clients connect through (to drop or partition them). A node keeps its
 * port and data dir across kills, so a client's reconnect reaches it again once it is back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../support/server.js';
import { TestRedis, freePort } from '../support/redis.js';
import { FaultProxy } from '../support/fault-proxy.js';

/** The namespace of channels with a short history, and how many messages it keeps. */
export const SHORT_NAMESPACE = 'short';
export const SHORT_HISTORY = 30;

/** How a killed node is started again while it cannot: every half second, for up to a minute. */
const RESTART_ATTEMPTS = 120;
const RESTART_DELAY_MS = 500;

export interface ClusterOptions {
  nodes: number;
  heartbeatMs: number;
  nodeTtlMs: number;
}

export class ChaosNode {
  server?: RunningServer;
  paused = false;
  readonly dataDir = mkdtempSync(join(tmpdir(), 'hubbub-chaos-'));
  /** Every process this node has been, for the logs of a failing run's report. */
  private readonly lives: RunningServer[] = [];

  constructor(
    readonly index: number,
    readonly port: number,
    readonly door: FaultProxy,
    readonly redisLink: FaultProxy,
    private readonly args: string[],
  ) {}

  get up(): boolean {
    const proc = this.server?.proc;
    return !!proc && proc.exitCode === null && proc.signalCode === null;
  }

  async start(): Promise<void> {
    this.server = await startServer(['--redis', `redis://127.0.0.1:${this.redisLink.port}`, ...this.args], { port: this.port, dataDir: this.dataDir });
    this.lives.push(this.server);
  }

  /**
   * Start again after a kill, as a supervisor would: `hubbub serve` refuses to start while it cannot
   * reach Redis (a kill overlapping a Redis restart), so try again until it is up.
   */
  async restart(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        if (attempt >= RESTART_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, RESTART_DELAY_MS));
      }
    }
  }

  logs(): string[] {
    return this.lives.flatMap((life, i) => [`--- node ${this.index}, process ${i + 1}`, ...life.logs]);
  }

  async kill(): Promise<void> {
    if (this.paused) this.resume();
    await this.server?.stop('SIGKILL');
  }

  pause(): void {
    if (!this.up || this.paused) return;
    this.server!.proc.kill('SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.server?.proc.kill('SIGCONT');
    this.paused = false;
  }
}

export class Cluster {
  private constructor(
    readonly redis: TestRedis,
    readonly nodes: ChaosNode[],
  ) {}

  static async start(options: ClusterOptions): Promise<Cluster> {
    const redis = await TestRedis.start();
    const args = [
      '--heartbeat', `${options.heartbeatMs}ms`,
      '--node-ttl', `${options.nodeTtlMs}ms`,
      // Everything a run publishes stays retained, so every loss the checker sees is a real one.
      '--history-limit', '100000',
      '--history-ttl', '30m',
      // …except on one channel, whose window a long enough outage outruns: there the promise is a discontinuity.
      '--namespace-history', `${SHORT_NAMESPACE}=${SHORT_HISTORY}/30m`,
      '--publish-rate', '1000',
      '--rest-read-rate', '1000',
    ];
    const nodes: ChaosNode[] = [];
    for (let i = 0; i < options.nodes; i++) {
      const port = await freePort();
      const door = await FaultProxy.start(port);
      const redisLink = await FaultProxy.start(redis.port);
      nodes.push(new ChaosNode(i, port, door, redisLink, args));
    }
    await Promise.all(nodes.map((n) => n.start()));
    return new Cluster(redis, nodes);
  }

  /** The node's door, as a client sees it. */
  wsUrl(node: number): string {
    return `ws://127.0.0.1:${this.nodes[node]!.door.port}`;
  }

  httpUrl(node: number): string {
    return `http://127.0.0.1:${this.nodes[node]!.door.port}`;
  }

  /** Heal every partition, resume every paused node, start every dead one. */
  async healAll(): Promise<void> {
    for (const node of this.nodes) {
      node.resume();
      node.door.heal();
      node.redisLink.heal();
    }
    await Promise.all(this.nodes.filter((n) => !n.up).map((n) => n.restart()));
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      await node.kill();
      await node.door.stop();
      await node.redisLink.stop();
      rmSync(node.dataDir, { recursive: true, force: true });
    }
    await this.redis.stop();
  }
}
