/**
 * README.md's five-minute tour, run as written: its commands (read from the README's blocks), two
 * tour clients typed into through stdin, and the output the README shows, presence included.
 *
 * What is substituted, and why (nothing else is):
 * - Every command runs with HUBBUB_DATA_DIR set to a fresh temp dir: the README's commands use the
 *   clone's `.hubbub/`, which a developer's own tour (and its keys) may be using.
 * - The server gets PORT=<a free port> and the clients HUBBUB_URL=ws://localhost:<that port>
 *   (examples/tour/chat.mjs reads it): port 3000 may be taken, e.g. by a developer's `npm start`.
 * - `npm start` is run as the server command of package.json's `start` script, without its build
 *   step: `npm test` has just built, and building again would rewrite the browser bundles that other
 *   tests are reading at the same time. The test checks that the script is that build plus that command.
 * - `npm install` is not run again: .ci/run (and `npm test` after it) start from that install.
 * Commands run in a user's environment: no JWT_SIGNING_KEY, no npm or vitest variables, no
 * node_modules/.bin on PATH, so `npx --no-install hubbub` must find the clone's bin by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, runnableBlock, shellCommands } from '../docs/support/markdown.js';
import { Terminal, expectSuccess, runShell, userEnv } from '../docs/support/shell.js';
import { freePort } from '../support/redis.js';
import { until } from '../support/wait.js';

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

/** The members a terminal's client believes are present, from the `[presence]` lines it printed. */
function presenceSeenBy(terminal: Terminal): Set<string> {
  const members = new Set<string>();
  for (const line of terminal.lines) {
    const m = /^\[presence\] (\S+) (enter|present|update|leave)$/.exec(line);
    if (!m) continue;
    if (m[2] === 'leave') members.delete(m[1]);
    else members.add(m[1]);
  }
  return members;
}

function leavesIn(lines: string[]): string[] {
  return lines.filter((line) => / leave$/.test(line));
}

describe('the README tour', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-tour-'));
  const terminals: Terminal[] = [];
  let port: number;
  let env: NodeJS.ProcessEnv;
  let serverCommand: string;

  const startServer = async (): Promise<Terminal> => {
    const server = new Terminal('server', serverCommand, env);
    terminals.push(server);
    await server.waitFor((line) => line.includes(`hubbub listening on http://localhost:${port}`));
    return server;
  };

  beforeAll(async () => {
    port = await freePort();
    env = userEnv({ HUBBUB_DATA_DIR: dataDir, PORT: String(port), HUBBUB_URL: `ws://localhost:${port}` });
    const serve = runnableBlock('tour-serve');
    expect(shellCommands(serve)).toEqual(['npm install && npm start']);
    const start = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts.start as string;
    const parts = /^npm run build --silent && (node \S+ serve)$/.exec(start);
    expect(parts, `package.json "start" is the build, then the server: ${start}`).not.toBeNull();
    serverCommand = parts![1];
  });

  afterAll(() => {
    for (const terminal of terminals) terminal.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves, mints tokens, chats with presence, survives a restart, and says goodbye', async () => {
    // 1. Serve: it listens, and says it made a development signing key.
    const server = await startServer();
    expect(server.lines.join('\n')).toContain('JWT_SIGNING_KEY is not set');
    expect(server.lines.join('\n')).toContain('made a new development signing key');

    // 2. Dev tokens, each line as written.
    const tokenLines = shellCommands(runnableBlock('tour-tokens'));
    expect(tokenLines).toHaveLength(2);
    const tokens: string[] = [];
    for (const line of tokenLines) {
      const ran = await runShell(line, { env });
      expectSuccess(ran, line);
      expect(ran.stdout.trim()).toMatch(JWT);
      tokens.push(ran.stdout.trim());
    }
    expect(claimsOf(tokens[0])).toMatchObject({ app: 'demo', sub: 'alice' });
    const bob = claimsOf(tokens[1]);
    expect(bob).toMatchObject({ app: 'demo', sub: 'bob', capability: { 'chat:*': ['subscribe', 'publish', 'presence'] } });
    expect((bob.exp as number) - Math.floor(Date.now() / 1000)).toBeGreaterThan(14 * 60);
    expect((bob.exp as number) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(15 * 60);

    // 3. Two clients. Each prints exactly what the README shows for it, and no leave at all.
    const [aliceCommand] = shellCommands(runnableBlock('tour-alice'));
    const [bobCommand] = shellCommands(runnableBlock('tour-bob'));
    const aliceShows = runnableBlock('tour-alice-output').text.split('\n');
    const bobShows = runnableBlock('tour-bob-output').text.split('\n');

    const alice = new Terminal('alice', aliceCommand, env);
    terminals.push(alice);
    await alice.waitFor(aliceShows.at(-1)!);
    expect(alice.lines).toEqual(aliceShows);

    const bobTerminal = new Terminal('bob', bobCommand, env);
    terminals.push(bobTerminal);
    await bobTerminal.waitFor(bobShows.at(-1)!);
    expect(bobTerminal.lines).toEqual(bobShows);
    await alice.waitFor('[presence] bob enter', aliceShows.length);

    alice.type('hello');
    await alice.waitFor('<alice> hello');
    await bobTerminal.waitFor('<alice> hello');
    expect(leavesIn(alice.lines), alice.transcript()).toEqual([]);
    expect(leavesIn(bobTerminal.lines), bobTerminal.transcript()).toEqual([]);

    // 4. Ctrl-C the server and start it again: both reconnect and are present again.
    const aliceBefore = alice.lines.length;
    const bobBefore = bobTerminal.lines.length;
    server.interrupt();
    expect(await server.exited).toBe(0);
    const restarting = (line: string) => line.startsWith('[connection] disconnected (connection closed (1012 server restarting))');
    await alice.waitFor(restarting, aliceBefore);
    await bobTerminal.waitFor(restarting, bobBefore);
    alice.type('typed while the server was down'); // queued by the SDK, sent once it is back
    await startServer();
    await alice.waitFor('[connection] connected', aliceBefore);
    await bobTerminal.waitFor('[connection] connected', bobBefore);

    // The restarted server has both again once they re-entered by themselves…
    const observer = await runShell(`node ${serverCommand.split(' ')[1]} devtoken --app demo --client observer`, { env });
    expectSuccess(observer, 'devtoken for the observer');
    const presence = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/channels/${encodeURIComponent('chat:lobby')}/presence`, {
        headers: { authorization: `Bearer ${observer.stdout.trim()}` },
      });
      return ((await res.json()) as { clientId: string }[]).map((m) => m.clientId).sort();
    };
    await until(async () => (await presence()).join() === 'alice,bob', 'alice and bob present on the restarted server', 20_000);
    // …and each client's own view says so.
    await until(() => presenceSeenBy(alice).size === 2 && presenceSeenBy(bobTerminal).size === 2, 'both clients seeing both members');
    expect([...presenceSeenBy(alice)].sort()).toEqual(['alice', 'bob']);
    expect([...presenceSeenBy(bobTerminal)].sort()).toEqual(['alice', 'bob']);

    // The line typed while it was down arrives, and so does one typed after the restart.
    await alice.waitFor('<alice> typed while the server was down', aliceBefore);
    await bobTerminal.waitFor('<alice> typed while the server was down', bobBefore);
    bobTerminal.type('back again');
    await alice.waitFor('<bob> back again', aliceBefore);
    await bobTerminal.waitFor('<bob> back again', bobBefore);

    // No false leave: at the restart a client may print a member's leave only if that member then
    // enters again (presence really was empty on the restarted server until they re-entered).
    for (const [terminal, before] of [[alice, aliceBefore], [bobTerminal, bobBefore]] as const) {
      const after = terminal.lines.slice(before);
      after.forEach((line, i) => {
        const m = /^\[presence\] (\S+) leave$/.exec(line);
        if (m) expect(after.slice(i + 1), `${terminal.name} printed "${line}" at the restart:\n${terminal.transcript()}`).toContain(`[presence] ${m[1]} enter`);
      });
    }

    // Ctrl-D in alice's terminal: she closes, bob sees her leave.
    const aliceLeft = bobTerminal.lines.length;
    alice.endInput();
    await alice.waitFor('[connection] closed', aliceBefore);
    expect(await alice.exited).toBe(0);
    await bobTerminal.waitFor('[presence] alice leave', aliceLeft);
  }, 120_000);
});
