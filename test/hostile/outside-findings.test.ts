/**
 * What an outside attack suite, written from the docs alone, found after the first round of hardening,
 * each as the behaviour it expected: pipelined reads that stalled every tenant, REST pages pinned by
 * readers that never read, topic subscription ids past the budget, the SDK looping on a publish the
 * server would close for, silent sockets holding file descriptors, cursors that spelled out hidden
 * names, one app taking every connection, amplified refusals, and first frames closed with the wrong class.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { decodeServerRecords, encodeClientFrame, type ClientFrame, type ServerFrame } from '@hubbub/protocol';
import { HubbubServer } from '../../packages/server/src/service/server.js';
import { SIGNING_KEY, cleanup, runCli, startServer, type RunningServer } from '../support/server.js';
import { RawClient, client, closeClients } from '../support/clients.js';
import { until } from '../support/wait.js';
import { bystander, sign, type Bystander } from './support.js';

let server: RunningServer;
let watch: Bystander;
const raws: RawClient[] = [];
const APP = 'outside';

beforeAll(async () => {
  server = await startServer([
    '--publish-rate', '100000',
    '--rest-publish-rate', '100000',
    '--rest-publish-burst', '100000',
    '--max-subscriptions', '20',
    '--max-payload', '65536',
  ]);
  watch = await bystander(server, APP);
});
afterAll(async () => {
  closeClients();
  await cleanup(server);
});
afterEach(() => {
  for (const r of raws.splice(0)) r.close();
});

async function raw(clientId: string, extra: Record<string, unknown> = {}): Promise<RawClient> {
  const r = await RawClient.connect(server.url);
  raws.push(r);
  expect(await r.auth(await sign(APP, clientId, extra))).toMatchObject({ t: 'connected' });
  return r;
}

/** Fill `channel` with `count` messages of `bytes` each, through REST. */
async function fill(channel: string, count: number, bytes: number): Promise<void> {
  const token = await sign(APP, 'filler');
  const body = 'h'.repeat(bytes);
  for (let i = 0; i < count; i += 10) {
    await Promise.all(
      Array.from({ length: Math.min(10, count - i) }, (_, j) =>
        fetch(`${server.http}/channels/${channel}/messages`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'n', data: `${i + j}:${body}` }),
        }).then((res) => expect(res.status).toBe(200)),
      ),
    );
  }
}

/** The worst ping round trip of a second client while `work` runs. */
async function worstLagDuring(work: () => Promise<unknown>): Promise<number> {
  const probe = await raw(`probe-${Date.now()}`);
  let worst = 0;
  let running = true;
  let id = 1_000_000;
  const pinging = (async () => {
    while (running) {
      const started = performance.now();
      probe.send({ t: 'ping', id: ++id });
      await probe.waitFor((f) => f.t === "pong" && f.id === id, 10_000);
      worst = Math.max(worst, performance.now() - started);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await work();
  } finally {
    running = false;
    await pinging;
  }
  return worst;
}

describe('pipelined reads do not stall other clients', () => {
  it('200 hist requests in one burst on a channel of 100 messages of 60 KB: bystander lag < 200 ms, every one answered', async () => {
    await fill('big:hist', 100, 60_000);
    const r = await raw('reader');
    const lag = await worstLagDuring(async () => {
      for (let id = 1; id <= 200; id++) r.send({ t: 'hist', id, channel: 'big:hist', limit: 100 });
      await r.waitFor((f) => "id" in f && f.id === 200, 60_000);
    });
    expect(lag).toBeLessThan(200);
    const pages = r.frames.filter((f) => f.t === 'histRes') as Array<{ messages: unknown[]; more?: boolean }>;
    expect(pages).toHaveLength(200);
    // Each page is cut to what fits in one reply, and says more.
    for (const page of pages) {
      expect(page.messages.length).toBeLessThan(10);
      expect(page.more).toBe(true);
    }
    await watch.check('pipelined hist');
  }, 90_000);

  it('REST history pages are cut to a bounded size and lead on with Link', async () => {
    const token = await sign(APP, 'rest-reader');
    const res = await fetch(`${server.http}/channels/big:hist/messages?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.length).toBeLessThan(400 * 1024);
    expect(res.headers.get('link')).toMatch(/rel="next"/);
  });
});

describe('topic subscriptions count per id', () => {
  it('many subscription ids on one topic are refused past --max-subscriptions; a filter over 16 KiB is 40001', async () => {
    const r = await raw('topics');
    const replies: ServerFrame[] = [];
    for (let i = 0; i < 40; i++) {
      r.send({ t: 'tsub', id: i + 1, sid: `s${i}`, topic: 'sync.hot', filter: { v: 'x'.repeat(100) } });
    }
    for (let i = 0; i < 40; i++) replies.push(await r.reply(i + 1));
    expect(replies.filter((f) => f.t === 'ack')).toHaveLength(20);
    expect(replies.filter((f) => f.t === 'err').every((f) => (f as { code: number }).code === 42900)).toBe(true);
    const r2 = await raw('topics2');
    r2.send({ t: 'tsub', id: 1, sid: 'big', topic: 'sync.hot', filter: { v: 'x'.repeat(17_000) } });
    expect(await r2.reply(1)).toMatchObject({ t: 'err', code: 40001 });
  });
});

describe('the SDK and the frame limit', () => {
  it('connected carries maxFrameBytes, and a publish over it is refused by the SDK with 41300 without a reconnect', async () => {
    const r = await raw('limits');
    expect(r.frames.find((f) => f.t === 'connected')).toMatchObject({ maxFrameBytes: 65536 });
    const rt = client(server.url, { token: await sign(APP, 'sdk-big') });
    await rt.connection.once('connected');
    const states: string[] = [];
    rt.connection.on((c) => states.push(c.current));
    await expect(rt.channels.get('big:sdk').publish('n', 'x'.repeat(100_000))).rejects.toMatchObject({ code: 41300 });
    await rt.channels.get('big:sdk').publish('n', 'small');
    expect(states).toEqual([]);
  });
});

describe('cursors and dedup scopes', () => {
  it('a document-list cursor does not spell out the names a capability hides, and a forged one is 40001', async () => {
    const writer = await sign(APP, 'writer');
    for (const name of ['a-visible', 'b-hidden-payroll', 'c-visible']) {
      const res = await fetch(`${server.http}/sync/documents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, data: { name } }),
      });
      expect([200, 409]).toContain(res.status);
    }
    const reader = await sign(APP, 'reader', { capability: { 'sync.a*': ['subscribe'], 'sync.c*': ['subscribe'] } });
    const seen: string[] = [];
    let cursor: string | undefined;
    const cursors: string[] = [];
    do {
      const res = await fetch(`${server.http}/sync/documents?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { headers: { authorization: `Bearer ${reader}` } });
      const page = (await res.json()) as { documents: Array<{ name: string }>; next?: string };
      seen.push(...page.documents.map((d) => d.name));
      cursor = page.next;
      if (cursor) cursors.push(cursor);
    } while (cursor);
    expect(seen).toEqual(['a-visible', 'c-visible']);
    for (const c of cursors) expect(Buffer.from(c, 'base64url').toString('latin1')).not.toContain('hidden');
    const forged = Buffer.from('b-hidden-payroll').toString('base64url');
    const res = await fetch(`${server.http}/sync/documents?cursor=${forged}`, { headers: { authorization: `Bearer ${reader}` } });
    expect(res.status).toBe(400);
  });

  it('a key publishing as client x and x itself do not share message ids', async () => {
    const created = await runCli(['keys', 'create', '--app', APP, '--data-dir', server.dataDir]);
    const key = created.stdout.trim();
    const publish = (auth: string, body: unknown) =>
      fetch(`${server.http}/channels/dedup:x/messages`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ duplicate: boolean }>);
    expect(await publish(`Bearer ${await sign(APP, 'x')}`, { id: 'shared-1', name: 'n', data: 'from x' })).toMatchObject({ duplicate: false });
    expect(await publish(`Bearer ${key}`, { id: 'shared-1', name: 'n', data: 'from the backend as x', clientId: 'x' })).toMatchObject({ duplicate: false });
  });
});

describe('refusals are not amplified, first frames get the class they deserve', () => {
  it('an oversized binary message of many records gets at most 64 refusals, then closes with 1009', async () => {
    const ws = new WebSocket(server.url);
    await new Promise((resolve) => ws.once('open', resolve));
    const frames: ServerFrame[] = [];
    let closed: number | undefined;
    ws.on('message', (d) => frames.push(...decodeServerRecords(d as Buffer)));
    ws.on('close', (code) => (closed = code));
    ws.send(encodeClientFrame({ t: 'auth', token: await sign(APP, 'binary') }), { binary: true });
    await until(() => frames.some((f) => f.t === 'connected'), 'connected');
    const pings = Buffer.concat(Array.from({ length: 1000 }, (_, i) => encodeClientFrame({ t: 'ping', id: i + 1 } as ClientFrame)));
    const pad = encodeClientFrame({ t: 'pub', id: 5000, channel: 'pad', name: 'n', data: 'p'.repeat(66_000), messageId: 'pad' } as ClientFrame);
    ws.send(Buffer.concat([pings, pad]), { binary: true });
    await until(() => closed !== undefined, 'the close');
    expect(closed).toBe(1009);
    expect(frames.filter((f) => f.t === 'err').length).toBeLessThanOrEqual(65);
  });

  it('a 40 KB first frame of junk is 41300 with close 4002; a 40 KB auth frame is 40101 with close 4101', async () => {
    const junk = await RawClient.connect(server.url);
    raws.push(junk);
    junk.send(`{"t":"sub","channel":"x","pad":"${'j'.repeat(40_000)}"}`);
    expect(await junk.waitFor((f) => f.t === 'err')).toMatchObject({ code: 41300 });
    expect(await junk.waitClosed()).toMatchObject({ code: 4002 });
    const fat = await RawClient.connect(server.url);
    raws.push(fat);
    fat.send(`{"t":"auth","token":"${'a'.repeat(40_000)}"}`);
    expect(await fat.waitFor((f) => f.t === 'err')).toMatchObject({ code: 40101 });
    expect(await fat.waitClosed()).toMatchObject({ code: 4101 });
  });

  it('admin logins from one address are throttled past a burst (429)', async () => {
    const s = await startServer(['--admin-key', 'an-admin-key-of-some-length-0123']);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const res = await fetch(`${s.http}/admin/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: `guess-${i}` }) });
        statuses.push(res.status);
      }
      expect(statuses.filter((s) => s === 401).length).toBeGreaterThan(10);
      expect(statuses.at(-1)).toBe(429);
    } finally {
      await cleanup(s);
    }
  });
});

describe('connections', () => {
  it('one app holds at most --max-connections-per-app; another app still connects', async () => {
    const s = await startServer(['--max-connections', '20', '--max-connections-per-app', '5']);
    const opened: RawClient[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const r = await RawClient.connect(s.url);
        opened.push(r);
        expect(await r.auth(await sign('greedy', `g${i}`))).toMatchObject({ t: 'connected' });
      }
      const sixth = await RawClient.connect(s.url);
      opened.push(sixth);
      sixth.send({ t: 'auth', token: await sign('greedy', 'g6') });
      expect(await sixth.waitClosed()).toMatchObject({ code: 1013 });
      const other = await RawClient.connect(s.url);
      opened.push(other);
      expect(await other.auth(await sign('modest', 'm1'))).toMatchObject({ t: 'connected' });
    } finally {
      for (const r of opened) r.close();
      await cleanup(s);
    }
  });

  it('a TCP connection that sends nothing is closed after the HTTP idle timeout', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-idle-'));
    const s = await HubbubServer.start({ port: 0, host: '127.0.0.1', dataDir, signingKey: SIGNING_KEY, httpIdleTimeoutMs: 300 });
    try {
      const socket = connect(s.port, '127.0.0.1');
      const closedAt = await new Promise<number>((resolve) => {
        const started = Date.now();
        socket.once('close', () => resolve(Date.now() - started));
        socket.resume();
      });
      expect(closedAt).toBeLessThan(5000);
    } finally {
      await s.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
