// The browser chat on `hubbub serve` and the `@hubbub/client` SDK: `npm run example:chat`, then open the
// URL it prints in two windows. This process serves the page and a token endpoint; the page loads the
// SDK from hubbub serve (`/sdk/hubbub.js`) and talks to it directly.
//
//   PORT (3100), HOST (127.0.0.1: HOST=0.0.0.0 to try it from a phone on your network)
//   HUBBUB_PORT (0: a free port) for the hubbub serve this starts, or use one that already runs:
//   HUBBUB_URL=http://127.0.0.1:3000 HUBBUB_API_KEY=chat.xxxx:yyyy (a key of app "chat")
//   HUBBUB_PUBLIC_URL: where browsers reach hubbub serve, when not at the page's host and HUBBUB_PORT
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { startHubbub } from './hubbub-process.mjs';
import { tokenEndpoint } from './token-endpoint.mjs';

const APP = 'chat';
const ROOMS = ['general', 'random', 'help'];
const port = Number(process.env.PORT || 3100);
const host = process.env.HOST || '127.0.0.1';

/** The page's files: a fixed list, so nothing from the URL reaches the disk. */
const FILES = {
  '/': ['index.html', 'text/html'],
  '/app.js': ['app.js', 'text/javascript'],
  '/chat-view.js': ['chat-view.js', 'text/javascript'],
  '/connection-status.js': ['connection-status.js', 'text/javascript'],
  '/style.css': ['style.css', 'text/css'],
};

const hubbub = await connectHubbub();
const config = JSON.stringify({ rooms: ROOMS, hubbubPort: hubbub.port, hubbubUrl: process.env.HUBBUB_PUBLIC_URL || undefined });

const http = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  try {
    if (path === '/token' && req.method === 'POST') return await tokenEndpoint(req, res, { hubbubUrl: hubbub.url, apiKey: hubbub.apiKey });
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD, POST' }).end();
    if (path === '/config') return void res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(config);
    const file = FILES[path];
    if (!file) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    const body = await readFile(new URL(`./public/${file[0]}`, import.meta.url));
    res.writeHead(200, { 'content-type': `${file[1]}; charset=utf-8`, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (err) {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`error: ${err.message}`);
  }
});

http.listen(port, host, () => {
  console.log(`chat on http://localhost:${http.address().port} (open it in two windows; Ctrl-C stops both servers)`);
});

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  http.close();
  http.closeAllConnections();
  await hubbub.stop?.();
  process.exit(0);
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
process.once('SIGHUP', stop);

/** The hubbub serve named by HUBBUB_URL, or a private one started here. */
async function connectHubbub() {
  const url = process.env.HUBBUB_URL;
  if (url) {
    const apiKey = process.env.HUBBUB_API_KEY;
    if (!apiKey) {
      console.error('HUBBUB_URL needs HUBBUB_API_KEY: make one with `hubbub keys create --app chat` in that server\'s data dir');
      process.exit(2);
    }
    const parsed = new URL(url);
    return { url: url.replace(/\/+$/, ''), apiKey, port: Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80)) };
  }
  const own = await startHubbub({ port: Number(process.env.HUBBUB_PORT || 0), host, app: APP });
  console.log(`hubbub serve (pid ${own.pid}) on ${own.url}: in-memory, data in a temp dir, API key of app "${APP}" made there`);
  own.exited.then((code) => {
    if (stopping) return;
    console.error(`hubbub serve stopped (exit ${code}): stopping the chat too`);
    process.exit(1);
  });
  return own;
}
