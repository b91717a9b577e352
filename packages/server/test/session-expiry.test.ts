import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryEngine } from '../src/engine/memory.js';
import { Router } from '../src/core/router.js';
import { Session } from '../src/core/session.js';
import { DEFAULT_LIMITS } from '../src/core/session-limits.js';
import { SessionRegistry } from '../src/core/session-registry.js';
import type { Wire } from '../src/core/wire.js';
import { dialects } from '../src/compat/dialects.js';

afterEach(() => vi.useRealTimers());

/** A session over a recording wire, authenticated with a token that expires in `ttlMs`. */
async function connected(ttlMs: number) {
  const engine = new MemoryEngine();
  const router = new Router(engine);
  await engine.start(router);
  const frames: Array<Record<string, unknown>> = [];
  const closes: number[] = [];
  const wire: Wire = { sendText: (text) => frames.push(JSON.parse(text)), sendBinary() {}, close: (code) => closes.push(code) };
  const sessions = new SessionRegistry();
  const session = new Session(
    { engine, router, sessions, dialects, limits: DEFAULT_LIMITS, authenticate: async () => ({ app: 'a', clientId: 'c', expiresAt: Date.now() + ttlMs }) },
    wire,
  );
  session.receive(JSON.stringify({ t: 'auth', token: 't' }));
  // The clock is fake (setImmediate is not): let the auth frame's promise chain settle without moving
  // time. A loaded machine may make the session yield the event loop (cooperative.ts), hence macrotasks.
  for (let i = 0; i < 1000 && !frames.some((f) => f.t === 'connected'); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(frames.map((f) => f.t)).toEqual(['connected']);
  return { frames, closes };
}

describe('token expiry while connected', () => {
  for (const [what, ttlMs] of [['a short-lived token (own timer)', 20_000], ['a token with hours to go (registry list)', 3 * 3600_000]] as const) {
    it(`${what}: 40102 exactly when it runs out, then closed after the grace period`, async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
      const { frames, closes } = await connected(ttlMs);
      vi.advanceTimersByTime(ttlMs - 1);
      expect(frames.filter((f) => f.t === 'err')).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(frames.filter((f) => f.t === 'err').map((f) => f.code)).toEqual([40102]);
      vi.advanceTimersByTime(DEFAULT_LIMITS.authGraceMs);
      expect(closes).toEqual([4102]);
    });
  }
});
