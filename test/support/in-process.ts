/**
 * The server in the test process: `HubbubServer.start()` on port 0 from the TypeScript source, for
 * e2e tests that need no process boundary (no kill, no restart, no reading of stdout). Nothing here
 * needs a build, and a test that used `startServer()` from ./server.ts changes only its import and
 * its start line: the same shape comes back (url, http, port, dataDir, stop) and the same signing key
 * signs the tokens, so a token from `devtoken()` in either module is good on either server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCapability } from '@hubbub/protocol';
import { HubbubServer, type ServerOptions } from '../../packages/server/src/service/server.js';
import { TokenAuthority } from '../../packages/server/src/service/tokens.js';
import { createLogger } from '../../packages/server/src/service/logger.js';
import { parseDuration } from '../../packages/server/src/service/duration.js';
import { parseArgs } from '../../packages/server/src/cli/args.js';
import { DEVTOKEN } from '../../packages/server/src/cli/options.js';
import { SIGNING_KEY } from './server.js';

export { SIGNING_KEY };

export interface InProcessServer {
  port: number;
  url: string;
  http: string;
  dataDir: string;
  server: HubbubServer;
  /** Close the server (gracefully: there is no process to signal). Safe to call twice. */
  stop(): Promise<void>;
}

/** So a converted test's `let server: RunningServer` keeps its type. */
export type RunningServer = InProcessServer;

/**
 * Start a server in this process on 127.0.0.1 and a free port (or `opts.port`), with a fresh temp data
 * dir (or `opts.dataDir`), the tests' signing key and no log output. `options` are `HubbubServer`'s:
 * `{ adminKey }` where a spawned server took `--admin-key`, `{ engine: new RedisEngine(…) }` for `--redis`.
 */
export async function startServer(options: Partial<ServerOptions> = {}, opts: { port?: number; dataDir?: string } = {}): Promise<InProcessServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-test-'));
  const server = await HubbubServer.start({
    host: '127.0.0.1',
    port: opts.port ?? 0,
    dataDir,
    signingKey: SIGNING_KEY,
    // Tests that read the log spawn the CLI (./server.ts); here it would only clutter the test output.
    logger: createLogger('silent', false),
    ...options,
  });
  let closing: Promise<void> | undefined;
  const port = server.port;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    http: `http://127.0.0.1:${port}`,
    dataDir,
    server,
    stop: () => (closing ??= server.close()),
  };
}

export async function cleanup(server: InProcessServer | undefined): Promise<void> {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
}

/**
 * What `hubbub devtoken --app APP --client ID [extra]` prints, minted here: `extra` takes the same
 * flags (`--ttl`, `--capability`), parsed by the CLI's own option table. The CLI itself is tested by
 * the tests that spawn it.
 */
export async function devtoken(app: string, client: string, extra: string[] = []): Promise<string> {
  const { values: v } = parseArgs(['--app', app, '--client', client, ...extra], DEVTOKEN, {});
  const { token } = await new TokenAuthority(SIGNING_KEY).mint({
    app: v.app as string,
    clientId: v.client as string,
    ttlMs: parseDuration(v.ttl, '--ttl'),
    capability: v.capability === undefined ? undefined : parseCapability(v.capability as string),
  });
  return token;
}
