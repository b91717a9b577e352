import { describe, expect, it } from 'vitest';
import type { ConnectionStateChange, Realtime } from '../src/index.js';
import { handshake, realtimeRig, settle, type Rig } from './support/harness.js';

const BASE = 1000;
const CAP = 30_000;

/** Close the latest socket with `code` and return the `disconnected` change it caused. */
async function dropWith(rig: Rig<Realtime>, code: number): Promise<ConnectionStateChange> {
  const seen: ConnectionStateChange[] = [];
  const off = rig.client.connection.on('disconnected', (c) => seen.push(c));
  rig.sockets.latest.serverClose(code);
  await settle();
  off();
  expect(seen, `a close ${code} leads to disconnected`).toHaveLength(1);
  return seen[0]!;
}

/** After a `disconnected` announcing `retryIn` (whole ms), the next socket opens then (within 1 ms), not before. */
async function expectRetryAt(rig: Rig<Realtime>, retryIn: number): Promise<void> {
  const before = rig.sockets.count;
  if (retryIn > 1) {
    await rig.clock.advance(retryIn - 1);
    expect(rig.sockets.count, `no new socket before retryIn ${retryIn}`).toBe(before);
  }
  await rig.clock.advance(2);
  expect(rig.sockets.count, `a new socket at retryIn ${retryIn}`).toBe(before + 1);
}

describe('reconnect backoff', () => {
  for (const random of [0, 0.5, 0.999]) {
    it(`backoff-class delays are min(cap, base·2^attempt) × [0.8, 1.2], never above the cap (random ${random})`, async () => {
      const rig = realtimeRig();
      rig.clock.randomValue = random;
      await handshake(rig.sockets);
      let code = 1006;
      for (let attempt = 0; attempt < 9; attempt++) {
        const change = await dropWith(rig, code);
        const nominal = Math.min(CAP, BASE * 2 ** attempt);
        expect(change.retryIn).toBeGreaterThanOrEqual(0.8 * nominal);
        expect(change.retryIn).toBeLessThanOrEqual(Math.min(CAP, 1.2 * nominal));
        await expectRetryAt(rig, change.retryIn!);
        // Each failed attempt of the same run: vary the backoff codes.
        code = [1006, 1011, 1013, 4001, 4002, 4008, 1009, 2999][attempt % 8]!;
      }
    });
  }

  it('random 0 gives the low end (0.8×), random 0.999 the high end (≈1.2×) of the first delay', async () => {
    const low = realtimeRig();
    low.clock.randomValue = 0;
    await handshake(low.sockets);
    const lowChange = await dropWith(low, 1006);
    const high = realtimeRig();
    high.clock.randomValue = 0.999;
    await handshake(high.sockets);
    const highChange = await dropWith(high, 1006);
    expect(lowChange.retryIn).toBeCloseTo(800, 0);
    expect(highChange.retryIn).toBeGreaterThan(1190);
    expect(highChange.retryIn).toBeLessThanOrEqual(1200);
  });

  it('honours reconnectDelayMs and reconnectMaxDelayMs', async () => {
    const rig = realtimeRig({ reconnectDelayMs: 100, reconnectMaxDelayMs: 500 });
    rig.clock.randomValue = 0.999;
    await handshake(rig.sockets);
    const delays: number[] = [];
    for (let attempt = 0; attempt < 6; attempt++) {
      const change = await dropWith(rig, 1006);
      delays.push(change.retryIn!);
      await expectRetryAt(rig, change.retryIn!);
    }
    const nominal = [100, 200, 400, 500, 500, 500];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0.8 * nominal[i]!);
      expect(d).toBeLessThanOrEqual(Math.min(500, 1.2 * nominal[i]!));
    });
  });

  it('the attempt counter resets once a connection has held for a while', async () => {
    const rig = realtimeRig();
    rig.clock.randomValue = 0.5;
    await handshake(rig.sockets);
    for (let attempt = 0; attempt < 4; attempt++) {
      const change = await dropWith(rig, 1006);
      await expectRetryAt(rig, change.retryIn!);
    }
    await handshake(rig.sockets);
    await rig.clock.advance(10_000);
    const change = await dropWith(rig, 1006);
    expect(change.retryIn).toBeGreaterThanOrEqual(0.8 * BASE);
    expect(change.retryIn).toBeLessThanOrEqual(1.2 * BASE);
  });

  for (const code of [1001, 1012, 4000]) {
    for (const random of [0, 0.5, 0.999]) {
      it(`reconnect-class close ${code} with no failure before retries within [0, base) (random ${random})`, async () => {
        const rig = realtimeRig();
        rig.clock.randomValue = random;
        await handshake(rig.sockets);
        const change = await dropWith(rig, code);
        expect(change.retryIn).toBeGreaterThanOrEqual(0);
        expect(change.retryIn).toBeLessThan(BASE);
        await expectRetryAt(rig, change.retryIn!);
      });
    }
  }

  it('unknown 4200–4299 codes are reconnect class too (closeClassOf)', async () => {
    const rig = realtimeRig();
    rig.clock.randomValue = 0.999;
    await handshake(rig.sockets);
    const change = await dropWith(rig, 4250);
    expect(change.retryIn).toBeLessThan(BASE);
  });
});
