import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Realtime } from '@hubbub/client';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/server.js';
import { client } from '../support/clients.js';

/** Ten minutes in CI; one locally unless HUBBUB_SOAK_SECONDS says otherwise. */
const SECONDS = Number(process.env.HUBBUB_SOAK_SECONDS ?? (process.env.CI ? 600 : 60));
const OUTPUT = fileURLToPath(new URL('../../test-output/soak/', import.meta.url));
const CONNECTIONS = 200;
const CHANNELS = 20;
const PUBLISH_PER_SECOND = 200;
const CHURN_PER_SECOND = 10;

let server: RunningServer;
afterAll(() => cleanup(server));

async function rss(): Promise<number> {
  const text = await (await fetch(`${server.http}/metrics`)).text();
  return Number(/^hubbub_process_resident_memory_bytes (\S+)$/m.exec(text)![1]);
}

describe('soak', () => {
  it(
    `keeps resident memory flat for ${SECONDS}s of steady load with connection churn`,
    async () => {
      server = await startServer(['--publish-rate', '10000']);
      const tokens = await Promise.all(Array.from({ length: 4 }, (_, i) => devtoken('foony', `soak-${i}`)));
      const open: Realtime[] = [];
      let received = 0;
      const connect = (i: number) => {
        const c = client(server.url, { token: tokens[i % tokens.length] });
        const channel = c.channels.get(`soak:${i % CHANNELS}`);
        channel.on(() => received++);
        if (i % 5 === 0) void channel.presence.enter({ i }).catch(() => {});
        open.push(c);
      };
      for (let i = 0; i < CONNECTIONS; i++) connect(i);
      const publisher = client(server.url, { token: tokens[0] });
      const samples: Array<{ second: number; rss: number; received: number }> = [];
      const started = Date.now();
      let next = CONNECTIONS;
      let published = 0;
      while (Date.now() - started < SECONDS * 1000) {
        const tick = Date.now();
        for (let k = 0; k < PUBLISH_PER_SECOND; k++) {
          void publisher.channels.get(`soak:${published % CHANNELS}`).publish('tick', published++).catch(() => {});
        }
        for (let k = 0; k < CHURN_PER_SECOND; k++) {
          open.shift()?.close();
          connect(next++);
        }
        const second = Math.round((tick - started) / 1000);
        if (second % 5 === 0) samples.push({ second, rss: await rss(), received });
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))));
      }
      for (const c of open) c.close();
      publisher.close();

      mkdirSync(OUTPUT, { recursive: true });
      writeFileSync(`${OUTPUT}/memory.csv`, `second,rss_bytes,received\n${samples.map((s) => `${s.second},${s.rss},${s.received}`).join('\n')}\n`);
      const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
      console.log(`soak: ${SECONDS}s, ${published} published, ${received} delivered, ${next} connections opened`);
      console.log(`soak: resident MB over time: ${samples.map((s) => `${s.second}s=${mb(s.rss)}`).join(' ')}`);

      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const window = (from: number, to: number) => samples.filter((s) => s.second >= SECONDS * from && s.second < SECONDS * to).map((s) => s.rss);
      const warm = median(window(0.2, 0.4));
      const late = median(window(0.8, 1.01));
      expect(received).toBeGreaterThan(0);
      expect(late, `resident memory grew from ${mb(warm)} MB to ${mb(late)} MB`).toBeLessThan(warm * 1.25 + 16 * 1024 * 1024);
    },
    (SECONDS + 120) * 1000,
  );
});
