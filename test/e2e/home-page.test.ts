import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/in-process.js';
import { RawClient } from '../support/clients.js';

const ADMIN_KEY = 'home-page-admin-key-0123456789';
const CLIENT_DIST = join(fileURLToPath(new URL('../../packages/client/', import.meta.url)), 'dist', 'browser');

/** The status and headers of an SSE stream, then hang up (the body never ends). */
async function streamStatus(server: RunningServer, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; body?: unknown }> {
  const controller = new AbortController();
  const res = await fetch(`${server.http}${path}`, { headers, signal: controller.signal });
  const type = res.headers.get('content-type');
  const body = type?.includes('json') ? await res.json() : undefined;
  controller.abort();
  return { status: res.status, type, body };
}

function login(server: RunningServer, key: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.http}/admin/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ key }),
    redirect: 'manual',
  });
}

/** The `name=value` part of the admin session cookie a response sets. */
function sessionCookie(res: Response): string {
  const set = res.headers.getSetCookie();
  expect(set).toHaveLength(1);
  return set[0].split(';')[0];
}

describe('GET / on a server with an admin key', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ adminKey: ADMIN_KEY });
  });
  afterAll(() => cleanup(server));

  it('serves an HTML page that says what this is and links to the admin, health, metrics, docs and SDK', async () => {
    const res = await fetch(`${server.http}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<title>[^<]*Hubbub/);
    expect(html).toContain(`ws://127.0.0.1:${server.port}`);
    for (const href of ['/admin', '/healthz', '/readyz', '/metrics', '/sdk/hubbub.js', '/sdk/hubbub.iife.js']) {
      expect(html).toContain(`href="${href}"`);
    }
    expect(html).toMatch(/href="https:\/\/github\.com\/[^"]+\/docs"/);
    expect(html).not.toContain('--admin-key</code> to turn it on');
  });

  it('answers HEAD / with the headers and no body', async () => {
    const res = await fetch(`${server.http}/`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await res.text()).toBe('');
  });

  it('gives JSON clients a small JSON description', async () => {
    const res = await fetch(`${server.http}/`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ name: 'hubbub', websocket: `ws://127.0.0.1:${server.port}/`, admin: '/admin', health: '/healthz' });
  });

  it('links to pages that answer', async () => {
    const html = await (await fetch(`${server.http}/`)).text();
    const local = [...html.matchAll(/href="(\/[^"]*)"/g)].map((m) => m[1]);
    expect(local.length).toBeGreaterThanOrEqual(6);
    for (const href of local) {
      const res = await fetch(`${server.http}${href}`);
      if (href.startsWith('/sdk/')) {
        expect([200, 404], href).toContain(res.status);
      } else {
        expect(res.status, href).toBe(200);
      }
      await res.arrayBuffer();
    }
  });

  it('keeps WebSocket upgrades on / working', async () => {
    const raw = await RawClient.connect(`${server.url}/`);
    const frame = await raw.auth(await devtoken('foony', 'home-ws'));
    expect(frame.t).toBe('connected');
    raw.close();
  });

  it('serves the SDK bundles as public JavaScript once built, else 404 saying to build', async () => {
    for (const file of ['hubbub.js', 'hubbub.iife.js']) {
      const res = await fetch(`${server.http}/sdk/${file}`, { headers: { origin: 'https://elsewhere.example' } });
      if (existsSync(join(CLIENT_DIST, file))) {
        expect(res.status, file).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
        expect(res.headers.get('access-control-allow-origin')).toBe('*');
        expect(res.headers.get('cache-control')).toBeTruthy();
        const etag = res.headers.get('etag');
        expect(etag).toBeTruthy();
        expect((await res.text()).length).toBeGreaterThan(100);
        const again = await fetch(`${server.http}/sdk/${file}`, { headers: { 'if-none-match': etag! } });
        expect(again.status).toBe(304);
      } else {
        expect(res.status, file).toBe(404);
        const body = await res.json();
        expect(body.error.code).toBe(40400);
        expect(body.error.message).toContain('npm run build');
      }
    }
  });

  it('resolves the bundles from the @hubbub/client package', () => {
    // The server finds them through the package, not a path relative to itself.
    const require = createRequire(import.meta.url);
    let dir: string | undefined;
    try {
      dir = dirname(require.resolve('@hubbub/client/package.json'));
    } catch {
      dir = undefined; // the export is not there yet: the 404 branch above covers it
    }
    if (dir) expect(join(dir, 'dist', 'browser')).toBe(CLIENT_DIST.replace(/\/$/, ''));
  });
});

describe('GET / on a server without an admin key', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => cleanup(server));

  it('says the admin console is off and how to turn it on', async () => {
    const html = await (await fetch(`${server.http}/`)).text();
    expect(html).toContain('--admin-key</code> to turn it on');
    const json = await (await fetch(`${server.http}/`, { headers: { accept: 'application/json' } })).json();
    expect(json.admin).toBeNull();
  });
});

describe('admin login', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ adminKey: ADMIN_KEY });
  });
  afterAll(() => cleanup(server));

  it('refuses the key in a URL, saying to use the header or the login form', async () => {
    for (const path of [`/admin/stream?key=${ADMIN_KEY}`, `/admin/presence?app=foony&channel=x&key=${ADMIN_KEY}`, `/admin?key=${ADMIN_KEY}`]) {
      const res = await streamStatus(server, path);
      expect(res.status, path).toBe(403);
      const error = (res.body as { error: { code: number; message: string } }).error;
      expect(error.code).toBe(40300);
      expect(error.message).toContain('Authorization: Bearer');
      expect(error.message).toContain('/admin');
    }
  });

  it('answers a wrong key with 401 and a message', async () => {
    const res = await login(server, 'not-the-key');
    expect(res.status).toBe(401);
    expect(res.headers.getSetCookie()).toEqual([]);
    const body = await res.json();
    expect(body.error.code).toBe(40101);
    expect(body.error.message).toMatch(/wrong admin key/i);

    const bearer = await streamStatus(server, '/admin/stream', { authorization: 'Bearer not-the-key' });
    expect(bearer.status).toBe(401);
    expect((bearer.body as { error: { code: number } }).error.code).toBe(40101);

    const none = await streamStatus(server, '/admin/stream');
    expect(none.status).toBe(401);
  });

  it('accepts the key as a Bearer header on the stream and the JSON endpoints', async () => {
    const headers = { authorization: `Bearer ${ADMIN_KEY}` };
    expect((await streamStatus(server, '/admin/stream', headers)).type).toContain('text/event-stream');
    const res = await fetch(`${server.http}/admin/presence?app=foony&channel=chat:lobby`, { headers });
    expect(res.status).toBe(200);
  });

  it('logs in with a cookie that is HttpOnly, SameSite=Strict, expiring, and not the key', async () => {
    const res = await login(server, ADMIN_KEY);
    expect(res.status).toBe(200);
    expect((await res.json()).expiresAt).toBeGreaterThan(Date.now() + 3_600_000);
    const [set] = res.headers.getSetCookie();
    expect(set).toMatch(/;\s*HttpOnly/i);
    expect(set).toMatch(/;\s*SameSite=Strict/i);
    expect(set).toMatch(/;\s*Path=\/admin/i);
    expect(set).toMatch(/;\s*Max-Age=\d+/i);
    expect(set).not.toMatch(/;\s*Secure/i);
    expect(set).not.toContain(ADMIN_KEY);

    const cookie = sessionCookie(res);
    const stream = await streamStatus(server, '/admin/stream', { cookie });
    expect(stream.status).toBe(200);
    expect(stream.type).toContain('text/event-stream');
    const presence = await fetch(`${server.http}/admin/presence?app=foony&channel=chat:lobby`, { headers: { cookie } });
    expect(presence.status).toBe(200);
  });

  it('marks the cookie Secure behind a TLS proxy', async () => {
    const res = await login(server, ADMIN_KEY, { 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()[0]).toMatch(/;\s*Secure/i);
  });

  it('logs in from a plain form post and goes back to /admin', async () => {
    const res = await fetch(`${server.http}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: ADMIN_KEY }).toString(),
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin');
    const cookie = sessionCookie(res);
    expect((await streamStatus(server, '/admin/stream', { cookie })).status).toBe(200);
  });

  it('refuses a login posted from another origin', async () => {
    const res = await login(server, ADMIN_KEY, { origin: 'https://evil.example' });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect((await res.json()).error.code).toBe(40300);
    // Its own origin is fine.
    expect((await login(server, ADMIN_KEY, { origin: server.http })).status).toBe(200);
  });

  it('ends the session on logout', async () => {
    const cookie = sessionCookie(await login(server, ADMIN_KEY));
    expect((await streamStatus(server, '/admin/stream', { cookie })).status).toBe(200);
    const out = await fetch(`${server.http}/admin/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie()[0]).toMatch(/Max-Age=0/i);
    expect((await streamStatus(server, '/admin/stream', { cookie })).status).toBe(401);
    expect((await fetch(`${server.http}/admin/presence?app=foony&channel=x`, { headers: { cookie } })).status).toBe(401);
  });

  it('refuses a made-up session cookie', async () => {
    const res = await streamStatus(server, '/admin/stream', { cookie: 'hubbub_admin=forged-session-token' });
    expect(res.status).toBe(401);
  });
});
