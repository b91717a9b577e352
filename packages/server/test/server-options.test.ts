import { describe, expect, it } from 'vitest';
import { resolveServerOptions } from '../src/service/server-options.js';

describe('resolveServerOptions', () => {
  it('an app may hold all of --max-connections unless --max-connections-per-app says less (docs/security.md)', () => {
    expect(resolveServerOptions({ maxConnections: 50_000 }).maxConnectionsPerApp).toBe(50_000);
    expect(resolveServerOptions({ maxConnections: 3 }).maxConnectionsPerApp).toBe(3);
    expect(resolveServerOptions({ maxConnections: 50_000, maxConnectionsPerApp: 100 }).maxConnectionsPerApp).toBe(100);
    expect(resolveServerOptions({ maxConnections: 50_000, maxConnectionsPerApp: undefined }).maxConnectionsPerApp).toBe(50_000);
  });
});
