import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ErrorCode, HubbubError } from '@hubbub/protocol';

/** URL → file in `@hubbub/client`'s `dist/browser/` (a fixed list: nothing from the URL reaches the disk). */
export const SDK_BUNDLES: Record<string, string> = {
  '/sdk/hubbub.js': 'hubbub.js',
  '/sdk/hubbub.iife.js': 'hubbub.iife.js',
};
/** Short: the URL carries no version, so a rebuilt SDK must reach browsers soon; the ETag makes rechecks cheap. */
const CACHE_CONTROL = 'public, max-age=300';
const NOT_BUILT =
  'the browser SDK bundle is not built: run `npm run build` (it writes @hubbub/client/dist/browser/), or install @hubbub/client beside the server';

interface Cached {
  mtimeMs: number;
  size: number;
  body: Buffer;
  etag: string;
}

/**
 * `/sdk/hubbub.js` (ESM) and `/sdk/hubbub.iife.js` (a classic script defining `window.Hubbub`):
 * the browser SDK straight from this server, so a page needs no bundler or CDN. Public scripts:
 * any origin may load them.
 */
export class SdkBundles {
  private readonly cache = new Map<string, Cached>();

  /** Takes `GET`/`HEAD` of a bundle URL; false leaves the request to the caller. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    const file = SDK_BUNDLES[path];
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const bundle = await this.load(file);
    const headers = {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': CACHE_CONTROL,
      etag: bundle.etag,
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    };
    if (matches(req.headers['if-none-match'], bundle.etag)) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': bundle.body.length });
    res.end(bundle.body);
    return true;
  }

  /** The file as built now: read again only when it changed (a rebuild while the server runs). */
  private async load(file: string): Promise<Cached> {
    const dir = clientBrowserDir();
    const path = dir && join(dir, file);
    // A file that cannot be read (not built yet, removed by a rebuild) is answered as not built.
    const info = path ? await stat(path).catch(() => undefined) : undefined;
    if (!path || !info?.isFile()) throw new HubbubError(ErrorCode.NotFound, NOT_BUILT);
    const cached = this.cache.get(file);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached;
    const body = await readFile(path);
    const fresh = { mtimeMs: info.mtimeMs, size: info.size, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    this.cache.set(file, fresh);
    return fresh;
  }
}

/** `@hubbub/client`'s `dist/browser/`, found the way Node finds the package; undefined when it is not installed. */
function clientBrowserDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@hubbub/client/package.json')), 'dist', 'browser');
  } catch {
    return undefined;
  }
}

/** One cache for the process: the files are the same for every server in it. */
const bundles = new SdkBundles();

/** Serve `path` if it is a bundle URL; false leaves the request to the caller. */
export function serveSdkBundle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  return bundles.handle(req, res, path);
}

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
