import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cameOverTls } from './admin-sessions.js';
import { sendJson } from './http.js';

/** Where the docs live; the one place that names the repository. */
export const DOCS_URL = 'https://github.com/hubbub/hubbub/tree/main/docs';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** A Host header we are willing to print back: a name or address and a port, nothing else. */
const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;
const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  vary: 'Accept',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
};

export interface HomePageInfo {
  /** `/admin` is on only with `--admin-key`. */
  adminEnabled: boolean;
  /** For the URLs shown when the request has no usable Host header. */
  port: number;
}

/**
 * `GET /` and `HEAD /`: the first URL a newcomer opens. Says what this is and where to go next;
 * `Accept: application/json` gets the same facts as JSON. (WebSocket upgrades on `/` never get
 * here: the WS transport takes the `upgrade` event.)
 */
export function serveHomePage(req: IncomingMessage, res: ServerResponse, info: HomePageInfo): void {
  const host = PLAIN_HOST.test(req.headers.host ?? '') ? req.headers.host! : `localhost:${info.port}`;
  const tls = cameOverTls(req);
  const http = `${tls ? 'https' : 'http'}://${host}`;
  const websocket = `${tls ? 'wss' : 'ws'}://${host}/`;
  if (wantsJson(req)) {
    return sendJson(
      res,
      200,
      {
        name: 'hubbub',
        version: VERSION,
        websocket,
        admin: info.adminEnabled ? '/admin' : null,
        health: '/healthz',
        ready: '/readyz',
        metrics: '/metrics',
        docs: DOCS_URL,
        sdk: { esm: '/sdk/hubbub.js', iife: '/sdk/hubbub.iife.js' },
      },
      { 'cache-control': 'no-cache', vary: 'Accept' },
    );
  }
  const body = page({ http, websocket, adminEnabled: info.adminEnabled });
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), ...PAGE_HEADERS });
  res.end(body);
}

function wantsJson(req: IncomingMessage): boolean {
  const accept = (req.headers.accept ?? '').toLowerCase();
  return accept.includes('application/json') && !accept.includes('text/html');
}

function page(p: { http: string; websocket: string; adminEnabled: boolean }): string {
  const http = escapeHtml(p.http);
  const ws = escapeHtml(p.websocket);
  const admin = p.adminEnabled
    ? '<a href="/admin">/admin</a>: the live console (log in with the admin key).'
    : '<a href="/admin">/admin</a>: the live console is off; start the server with <code>--admin-key</code> to turn it on (or set <code>HUBBUB_ADMIN_KEY</code>).';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hubbub ${escapeHtml(VERSION)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { margin: 0 auto; max-width: 760px; padding: 24px; font: 15px/1.55 system-ui, sans-serif; color: #1d2330; }
  h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 6px; }
  .muted { color: #6b7385; } code, pre { font: 13px/1.5 ui-monospace, monospace; background: #f2f3f8; border-radius: 4px; }
  code { padding: 1px 4px; } pre { padding: 10px 12px; overflow-x: auto; }
  li { margin: 3px 0; } a { color: #3a49c9; }
</style>
</head>
<body>
<h1>Hubbub</h1>
<p class="muted">version ${escapeHtml(VERSION)} · this server is running</p>
<p>Hubbub is a self-hostable realtime server: browsers and services connect over WebSocket (or
Server-Sent Events and long-polling where WebSocket is blocked), join channels, publish messages
that every subscriber receives in order, see who is present, and fetch history. Clients authenticate
with a JWT minted by this server (<code>POST /auth/token</code> with an API key, or
<code>hubbub devtoken</code> while developing).</p>

<h2>Connect</h2>
<p>WebSocket URL: <code>${ws}</code></p>

<h2>This server</h2>
<ul>
  <li>${admin}</li>
  <li><a href="/healthz">/healthz</a>: the process is alive.</li>
  <li><a href="/readyz">/readyz</a>: 200 when the engine and the store answer (for load balancers).</li>
  <li><a href="/metrics">/metrics</a>: Prometheus metrics.</li>
</ul>

<h2>Browser SDK</h2>
<ul>
  <li><a href="/sdk/hubbub.js">/sdk/hubbub.js</a>: an ES module (<code>import { Realtime } from '${http}/sdk/hubbub.js'</code>).</li>
  <li><a href="/sdk/hubbub.iife.js">/sdk/hubbub.iife.js</a>: a classic script that defines <code>window.Hubbub</code>.</li>
</ul>
<pre>&lt;script type="module"&gt;
import { Realtime } from '${http}/sdk/hubbub.js';
const realtime = new Realtime({ endpoint: '${ws}', token: TOKEN });
const channel = realtime.channels.get('chat:lobby');
channel.on((message) =&gt; console.log(message.name, message.data));
await channel.publish('greeting', { text: 'hello' });
&lt;/script&gt;</pre>
<p><code>TOKEN</code>: a JWT from <code>POST /auth/token</code> (with an API key), or from
<code>hubbub devtoken --app demo --client me</code> while developing. From npm:
<code>npm install @hubbub/client</code>.</p>

<h2>Docs</h2>
<p>The <code>docs/</code> folder of the Hubbub repository (start with <code>getting-started.md</code>,
then <code>server.md</code> for every option and route): <a href="${escapeHtml(DOCS_URL)}">${escapeHtml(DOCS_URL)}</a>.</p>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
