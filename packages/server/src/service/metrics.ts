import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Stats } from '../core/stats.js';

export interface MetricSources {
  stats: Stats;
  transport: { framesOut: number; bytesOut: number; framesIn: number; bytesIn: number; slowConsumersCut: number };
  connections(): number;
  channels(): number;
  /** The connection budget: places taken by pending and authenticated connections, and its refusals. */
  admission?: { pending: number; authenticated: number; counters: { pendingEvicted: number; refusedFull: number } };
  webhookQueueDepth(): Promise<number>;
  /** Webhook events dropped for a full outbox (or a store unreachable too long). */
  webhookEventsDropped?(): number;
}

/**
 * Prometheus metrics. Hot paths only bump plain counters (`Stats`, transport counters); this
 * module turns them into metrics when scraped, so serving traffic never touches prom-client.
 */
export function createMetrics(sources: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hubbub_' });
  const { stats, transport } = sources;

  new Gauge({
    name: 'hubbub_connections',
    help: 'Open client connections',
    registers: [registry],
    collect() {
      this.set(sources.connections());
    },
  });
  new Gauge({
    name: 'hubbub_channels',
    help: 'Channels with local subscribers',
    registers: [registry],
    collect() {
      this.set(sources.channels());
    },
  });
  monotonic(registry, 'hubbub_messages_published_total', 'Messages accepted for publishing', () => stats.messagesIn);
  monotonic(registry, 'hubbub_deliveries_total', 'Frames written to client sockets', () => transport.framesOut);
  monotonic(registry, 'hubbub_frames_received_total', 'Frames received from client sockets', () => transport.framesIn);
  monotonic(registry, 'hubbub_bytes_sent_total', 'Bytes of frames written to client sockets', () => transport.bytesOut);
  monotonic(registry, 'hubbub_bytes_received_total', 'Bytes of frames received from client sockets', () => transport.bytesIn);
  const admission = sources.admission;
  if (admission) {
    gauge(registry, 'hubbub_pending_connections', 'Connections that have not authenticated yet', () => admission.pending);
    gauge(registry, 'hubbub_authenticated_connections', 'Places taken in --max-connections (WebSocket and long-poll)', () => admission.authenticated);
    monotonic(registry, 'hubbub_pending_evicted_total', 'Unauthenticated connections closed to make room (1013)', () => admission.counters.pendingEvicted);
    monotonic(registry, 'hubbub_connections_refused_total', 'Authenticated connections refused for a full server (1013)', () => admission.counters.refusedFull);
  }
  monotonic(registry, 'hubbub_slow_consumers_cut_total', 'Connections closed for not reading', () => transport.slowConsumersCut);
  const sentErrors = new Map<number, number>();
  new Counter({
    name: 'hubbub_errors_total',
    help: 'Error frames sent, by code',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      // Add what happened since the last scrape.
      for (const [code, count] of stats.errors) {
        const before = sentErrors.get(code) ?? 0;
        if (count > before) this.inc({ code: String(code) }, count - before);
        sentErrors.set(code, count);
      }
    },
  });
  new Gauge({
    name: 'hubbub_webhook_queue_depth',
    help: 'Webhook deliveries waiting in the outbox',
    registers: [registry],
    async collect() {
      this.set(await sources.webhookQueueDepth().catch(() => -1));
    },
  });
  const dropped = sources.webhookEventsDropped;
  if (dropped) monotonic(registry, 'hubbub_webhook_events_dropped_total', "Webhook events not queued: the app's outbox was full (--webhook-max-queue, --webhook-max-queue-bytes), or the store unreachable too long", dropped);
  const latency = new Histogram({
    name: 'hubbub_engine_publish_seconds',
    help: 'Time the engine took to accept a publish',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  new Gauge({
    name: 'hubbub_engine_publish_samples',
    help: 'Engine latency samples taken at the last scrape',
    registers: [registry],
    collect() {
      const samples = stats.drainEngineLatency();
      for (const ms of samples) latency.observe(ms / 1000);
      this.set(samples.length);
    },
  });
  return registry;
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A counter whose value lives elsewhere: each scrape adds the difference. */
function monotonic(registry: Registry, name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > seen) this.inc(now - seen);
      seen = now;
    },
  });
}
