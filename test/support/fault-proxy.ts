/**
 * A TCP proxy the chaos harness controls, in front of a node (for its clients) or in front of Redis
 * (for one node). It can cut every connection through it (a dropped socket: both ends see a reset), or
 * partition: stop reading on both sides, so bytes wait in the kernels as they would behind a lost link,
 * and new connections are accepted but go nowhere, until the partition heals and everything flows again.
 */
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream?: net.Socket;
}

export class FaultProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private partitioned = false;
  private waiting: Pair[] = [];
  private readonly closedBehind: Pair[] = [];

  private constructor(
    readonly port: number,
    private target: number,
    server: net.Server,
  ) {
    this.server = server;
  }

  static async start(target: number, port = 0): Promise<FaultProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const proxy = new FaultProxy((server.address() as net.AddressInfo).port, target, server);
    server.on('connection', (socket) => proxy.accept(socket));
    return proxy;
  }

  /** Where new connections go (existing ones keep their upstream). */
  retarget(port: number): void {
    this.target = port;
  }

  get isPartitioned(): boolean {
    return this.partitioned;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Every connection through the proxy ends at once (a reset, as a dropped link reads). */
  cut(): void {
    for (const pair of [...this.pairs]) {
      this.pairs.delete(pair);
      this.destroy(pair);
    }
  }

  partition(): void {
    if (this.partitioned) return;
    this.partitioned = true;
    for (const pair of this.pairs) if (pair.upstream) this.unlink(pair.client, pair.upstream);
  }

  heal(): void {
    if (!this.partitioned) return;
    this.partitioned = false;
    // Ends that closed behind the partition were not heard of by the other side: now they are.
    for (const pair of this.closedBehind.splice(0)) this.destroy(pair);
    for (const pair of this.pairs) if (pair.upstream?.readyState === 'open') this.link(pair.client, pair.upstream);
    const waiting = this.waiting;
    this.waiting = [];
    for (const pair of waiting) if (this.pairs.has(pair)) this.connect(pair);
  }

  async stop(): Promise<void> {
    this.cut();
    for (const pair of this.closedBehind.splice(0)) this.destroy(pair);
    for (const pair of this.waiting.splice(0)) this.destroy(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const pair: Pair = { client };
    this.pairs.add(pair);
    client.on('error', () => this.close(pair));
    client.on('close', () => this.close(pair));
    client.pause();
    if (this.partitioned) this.waiting.push(pair);
    else this.connect(pair);
  }

  private connect(pair: Pair): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => this.close(pair));
    upstream.on('close', () => this.close(pair));
    upstream.once('connect', () => {
      if (!this.pairs.has(pair)) return;
      if (this.partitioned) upstream.pause();
      else this.link(pair.client, upstream);
    });
  }

  private link(a: net.Socket, b: net.Socket): void {
    a.pipe(b);
    b.pipe(a);
  }

  /** Stop the bytes both ways; they wait in the socket buffers until link() again. */
  private unlink(a: net.Socket, b: net.Socket): void {
    a.unpipe(b);
    b.unpipe(a);
    a.pause();
    b.pause();
  }

  private close(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    if (this.partitioned) this.closedBehind.push(pair);
    else this.destroy(pair);
  }

  private destroy(pair: Pair): void {
    reset(pair.client);
    if (pair.upstream) reset(pair.upstream);
  }
}

/** End a socket with a reset (as a dropped link reads); one still connecting, or already gone, is just destroyed. */
function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting || socket.readyState !== 'open') socket.destroy();
  else socket.resetAndDestroy();
}
