import { readFile } from 'node:fs/promises';
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, HubbubError, isValidAppId, isValidChannelName } from '@hubbub/protocol';
import { appOf, channelKeyOf, channelOf } from '../core/outbound.js';
import type { HubbubServer } from './server.js';

const PAGE = new URL('../../assets/admin.html', import.meta.url);

/** One second of the picture the admin page draws. */
export interface AdminSnapshot {
  at: number;
  node: string;
  engine: string;
  store: string;
  uptimeSeconds: number;
  connections: number;
  channels: number;
  messagesInPerSecond: number;
  deliveriesPerSecond: number;
  totals: { messagesIn: number; deliveries: number; bytesIn: number; bytesOut: number };
  topChannels: Array<{ app: string; channel: string; messages: number }>;
  apps: Array<{ app: string; connections: number; messages: number }>;
  errors: Array<{ code: number; count: number }>;
  recentErrors: Array<{ at: number; code: number; message: string }>;
  nodes: string[];
  webhookQueueDepth: number;
}

/**
 * `/admin`: a page and a once-a-second SSE stream of the server's figures, behind the admin key.
 * The page is static; every number arrives over the stream.
 */
export interface Sample {
  at: number;
  connections: number;
  channels: number;
  messagesInPerSecond: number;
  deliveriesPerSecond: number;
}

export class AdminConsole {
  /** The last five minutes, one sample a second, shared by every open admin page. */
  readonly series: Sample[] = [];
  private last?: { at: number; messagesIn: number; deliveries: number };
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly server: HubbubServer,
    private readonly adminKey: string | undefined,
  ) {
    if (adminKey) {
      this.timer = setInterval(() => this.sample(), 1000);
      this.timer.unref();
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): Sample {
    const { stats, sessions, router } = this.server;
    const now = Date.now();
    const framesOut = this.server.transportCounters.framesOut;
    const prev = this.last ?? { at: now - 1000, messagesIn: stats.messagesIn, deliveries: framesOut };
    const seconds = Math.max(0.001, (now - prev.at) / 1000);
    this.last = { at: now, messagesIn: stats.messagesIn, deliveries: framesOut };
    const sample: Sample = {
      at: now,
      connections: sessions.size,
      channels: router.channelCount,
      messagesInPerSecond: round((stats.messagesIn - prev.messagesIn) / seconds),
      deliveriesPerSecond: round((framesOut - prev.deliveries) / seconds),
    };
    this.series.push(sample);
    if (this.series.length > 300) this.series.shift();
    return sample;
  }

  /** Handles `/admin…`; returns false for other paths. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path !== '/admin' && !path.startsWith('/admin/')) return false;
    if (!this.adminKey) {
      throw new HubbubError(ErrorCode.NotFound, 'the admin console is off: start the server with --admin-key (or HUBBUB_ADMIN_KEY)');
    }
    if (path === '/admin' || path === '/admin/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(await readFile(PAGE));
      return true;
    }
    this.authorize(req);
    if (path === '/admin/stream') return this.stream(req, res);
    if (path === '/admin/presence') {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const app = q.get('app') ?? '';
      const channel = q.get('channel') ?? '';
      if (!isValidAppId(app) || !isValidChannelName(channel)) throw new HubbubError(ErrorCode.BadFrame, 'give ?app= and ?channel=');
      const members = await this.server.engine.presenceMembers(channelKeyOf(app, channel));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ members }));
      return true;
    }
    throw new HubbubError(ErrorCode.NotFound, `no admin route ${path}`);
  }

  async snapshot(): Promise<AdminSnapshot> {
    const { stats, sessions, engine, store } = this.server;
    const counters = this.server.transportCounters;
    const now = Date.now();
    const latest = this.series.at(-1) ?? this.sample();
    const perApp = new Map<string, number>();
    for (const s of sessions.all()) if (s.app) perApp.set(s.app, (perApp.get(s.app) ?? 0) + 1);
    for (const app of stats.messagesByApp.keys()) if (!perApp.has(app)) perApp.set(app, 0);
    return {
      at: now,
      node: this.server.nodeId,
      engine: engine.kind,
      store: store.kind,
      uptimeSeconds: Math.round((now - this.server.startedAt) / 1000),
      connections: latest.connections,
      channels: latest.channels,
      messagesInPerSecond: latest.messagesInPerSecond,
      deliveriesPerSecond: latest.deliveriesPerSecond,
      totals: { messagesIn: stats.messagesIn, deliveries: counters.framesOut, bytesIn: counters.bytesIn, bytesOut: counters.bytesOut },
      topChannels: stats.topChannels(10).map(({ channel, messages }) => ({ app: appOf(channel), channel: channelOf(channel), messages })),
      apps: [...perApp].map(([app, connections]) => ({ app, connections, messages: stats.messagesByApp.get(app) ?? 0 })),
      errors: [...stats.errors].map(([code, count]) => ({ code, count })).sort((a, b) => a.code - b.code),
      recentErrors: stats.recentErrors.slice(-10),
      nodes: (await engine.nodes?.().catch(() => undefined)) ?? [this.server.nodeId],
      webhookQueueDepth: await store.webhookQueueDepth().catch(() => -1),
    };
  }

  private authorize(req: IncomingMessage): void {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const header = req.headers.authorization?.replace(/^Bearer /, '');
    const given = Buffer.from(header ?? q.get('key') ?? '');
    const want = Buffer.from(this.adminKey!);
    if (given.length !== want.length || !timingSafeEqual(given, want)) {
      throw new HubbubError(ErrorCode.Forbidden, 'wrong or missing admin key');
    }
  }

  private async stream(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = async () => res.write(`event: snapshot\ndata: ${JSON.stringify(await this.snapshot())}\n\n`);
    res.write(`event: series\ndata: ${JSON.stringify(this.series)}\n\n`);
    await send();
    const timer = setInterval(() => void send().catch(() => clearInterval(timer)), 1000);
    req.on('close', () => clearInterval(timer));
    return true;
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
