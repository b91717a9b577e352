import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealtimeClient, WebhookReceiver } from '@hubbub/client';
import { generateWebhookSecret } from '../../packages/server/src/service/webhooks/signature.js';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/wait.js';

const DOWN_FOR_MS = Number(process.env.HUBBUB_WEBHOOK_DOWN_MS ?? 60_000);

let server: RunningServer | undefined;
afterEach(() => cleanup(server));

describe('webhook receiver down for a minute', () => {
  it(
    'every event queued while it was down is delivered once it is back',
    async () => {
      const secret = generateWebhookSecret();
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'hubbub-whdown-'));
      const config = join(dir, 'hubbub.config.json');
      writeFileSync(config, JSON.stringify({ webhooks: [{ app: 'foony', url: `http://127.0.0.1:${port}/`, secret, events: ['document.changed'] }] }));
      server = await startServer(['--config', config, '--webhook-retry', '500ms', '--webhook-max-delay', '3s', '--webhook-allow-private'], { dataDir: dir });
      const platform = new RealtimeClient({ url: server.http, token: await devtoken('foony', 'w'), autoConnect: false });
      const downSince = Date.now();
      const written: string[] = [];
      // Events keep coming while the receiver is away.
      while (Date.now() - downSince < DOWN_FOR_MS) {
        const name = `doc-${written.length}`;
        await platform.sync.create(name, { n: written.length });
        written.push(`sync.${name}`);
        await new Promise((r) => setTimeout(r, Math.min(2000, DOWN_FOR_MS / 10)));
      }
      const receiver = new WebhookReceiver(secret);
      const topics = new Set<string>();
      const http = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          const { event } = receiver.verify<{ data: { topic: string } }>(Buffer.concat(chunks), req.headers);
          topics.add(event.data.topic);
          res.writeHead(200).end();
        });
      });
      await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', () => resolve()));
      try {
        await until(() => written.every((t) => topics.has(t)), 'every event', 20_000);
        expect(topics.size).toBe(written.length);
      } finally {
        http.closeAllConnections();
        http.close();
      }
    },
    DOWN_FOR_MS + 60_000,
  );
});
