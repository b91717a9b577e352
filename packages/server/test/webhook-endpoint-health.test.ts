import { describe, expect, it } from 'vitest';
import { EndpointHealth, retryDelay } from '../src/service/webhooks/endpoint-health.js';

describe('EndpointHealth', () => {
  it('a healthy endpoint may have up to maxInFlight attempts under way', () => {
    const health = new EndpointHealth({ maxInFlight: 4 });
    expect(health.capacity(0)).toBe(4);
    const attempts = [health.started(), health.started(), health.started()];
    expect(health.capacity(0)).toBe(1);
    health.finished(attempts[0]!, { delivered: true });
    expect(health.capacity(0)).toBe(2);
    expect(health.healthy).toBe(true);
  });

  it("after a failure: nothing until that event's retry, then one probe at a time, each waiting for its own event's retry", () => {
    const health = new EndpointHealth({ maxInFlight: 4 });
    const a = health.started();
    const b = health.started();
    health.finished(a, { delivered: false, retryAt: 1000 });
    expect(health.healthy).toBe(false);
    expect(health.capacity(0)).toBe(0);
    // An attempt that started before the failure fails too: it does not move the pause.
    health.finished(b, { delivered: false, retryAt: 5000 });
    expect(health.capacity(999)).toBe(0);
    expect(health.capacity(1000)).toBe(1);
    const probe = health.started();
    expect(probe.probe).toBe(true);
    expect(health.capacity(1000)).toBe(0); // one at a time
    health.finished(probe, { delivered: false, retryAt: 3000 });
    expect(health.capacity(2999)).toBe(0);
    expect(health.capacity(3000)).toBe(1);
    health.finished(health.started(), { delivered: true });
    expect(health.healthy).toBe(true);
    expect(health.capacity(3000)).toBe(4);
  });

  it('a success of an attempt started before the failure makes the endpoint healthy again', () => {
    const health = new EndpointHealth({ maxInFlight: 2 });
    const a = health.started();
    const b = health.started();
    health.finished(a, { delivered: false, retryAt: 60_000 });
    expect(health.capacity(0)).toBe(0);
    health.finished(b, { delivered: true });
    expect(health.capacity(0)).toBe(2);
  });
});

describe('retryDelay', () => {
  it('doubles from the base with ±20 % jitter, up to the most, in whole ms', () => {
    for (let i = 0; i < 50; i++) {
      const first = retryDelay(0, 1000, 60_000);
      expect(first).toBeGreaterThanOrEqual(800);
      expect(first).toBeLessThanOrEqual(1200);
      expect(Number.isInteger(first)).toBe(true);
      const third = retryDelay(2, 1000, 60_000);
      expect(third).toBeGreaterThanOrEqual(3200);
      expect(third).toBeLessThanOrEqual(4800);
      expect(retryDelay(20, 1000, 60_000)).toBeLessThanOrEqual(72_000);
    }
  });
});
