import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { AdminSessions, isCrossSite, sameKey, sessionTokenOf } from '../src/service/admin-sessions.js';

const request = (headers: Record<string, string>) => ({ headers, socket: {} }) as unknown as IncomingMessage;

describe('AdminSessions', () => {
  it('knows a token until it expires, and never the key', () => {
    const sessions = new AdminSessions(1000, 10);
    const { token, expiresAt } = sessions.start(0);
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(expiresAt).toBe(1000);
    expect(sessions.expiresAt(token, 999)).toBe(1000);
    expect(sessions.expiresAt(token, 1000)).toBeUndefined();
    expect(sessions.expiresAt('made-up', 0)).toBeUndefined();
  });

  it('ends a session on logout', () => {
    const sessions = new AdminSessions();
    const { token } = sessions.start();
    sessions.end(token);
    expect(sessions.expiresAt(token)).toBeUndefined();
  });

  it('keeps at most its bound, dropping the oldest', () => {
    const sessions = new AdminSessions(60_000, 3);
    const tokens = Array.from({ length: 5 }, (_, i) => sessions.start(i).token);
    expect(sessions.size).toBe(3);
    expect(tokens.map((t) => sessions.expiresAt(t, 10) !== undefined)).toEqual([false, false, true, true, true]);
  });
});

describe('admin request checks', () => {
  it('compares keys of any length', () => {
    expect(sameKey('secret-key', 'secret-key')).toBe(true);
    expect(sameKey('secret-kez', 'secret-key')).toBe(false);
    expect(sameKey('', 'secret-key')).toBe(false);
    expect(sameKey('secret-key-and-more', 'secret-key')).toBe(false);
  });

  it('reads the session cookie among others', () => {
    expect(sessionTokenOf(request({ cookie: 'a=1; hubbub_admin=tok-en_1; b=2' }))).toBe('tok-en_1');
    expect(sessionTokenOf(request({ cookie: 'xhubbub_admin=no' }))).toBeUndefined();
    expect(sessionTokenOf(request({}))).toBeUndefined();
  });

  it.each([
    [{ host: 'h:3000' }, false],
    [{ host: 'h:3000', origin: 'http://h:3000' }, false],
    [{ host: 'h:3000', origin: 'http://evil.example' }, true],
    [{ host: 'h:3000', origin: 'null' }, true],
    [{ host: 'h:3000', 'sec-fetch-site': 'cross-site' }, true],
    [{ host: 'h:3000', 'sec-fetch-site': 'same-site', origin: 'http://h:3000' }, true],
    [{ host: 'internal:3000', 'x-forwarded-host': 'admin.example.com', origin: 'https://admin.example.com' }, false],
  ])('isCrossSite(%o) is %s', (headers, crossSite) => {
    expect(isCrossSite(request(headers))).toBe(crossSite);
  });
});
