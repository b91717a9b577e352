import { expect } from 'vitest';
import type { PresenceMember } from '@hubbub/protocol';
import { clientOutcome } from '../../../src/core/presence-views.js';
import type { DefineCase } from '../suite.js';
import { until } from '../../../../../test/support/wait.js';
import { CH, draft, publishMany, range, seqs } from '../fixtures.js';

const ids = (members: PresenceMember[]) => members.map((m) => m.clientId).sort();

/** Several nodes of one deployment: fan-out, shared serials and dedup, presence by node, recovery anywhere. */
export function multiNodeCases(test: DefineCase): void {
  test('a publish on one node reaches listeners on the others exactly once, in order', { nodes: 3 }, async ({ deploy }) => {
    const [a, b, c] = await deploy(3);
    await Promise.all([b.engine.listen(CH), c.engine.listen(CH)]);
    const results = await Promise.all(range(1, 50).map((i) => a.engine.publish(CH, draft({ data: i }))));
    const dataBySeq = new Map(results.map((r, i) => [r.seq, i + 1]));
    expect([...dataBySeq.keys()].sort((x, y) => x! - y!)).toEqual(range(1, 50));
    await a.engine.publish(CH, draft({ name: 'marker' }));
    for (const node of [b, c]) {
      await node.received(CH, 51);
      const got = node.delivered(CH);
      expect(seqs(got)).toEqual(range(1, 51));
      expect(got.slice(0, 50).map((m) => m.data)).toEqual(range(1, 50).map((s) => dataBySeq.get(s)));
    }
    // The publishing node does not listen: it gets nothing.
    expect(a.delivered(CH)).toEqual([]);
  });

  test('publishes from several nodes interleave into one order that every node sees', { nodes: 3 }, async ({ deploy }) => {
    const nodes = await deploy(3);
    await Promise.all(nodes.map((n) => n.engine.listen(CH)));
    await Promise.all(nodes.flatMap((n, k) => range(1, 20).map((i) => n.engine.publish(CH, draft({ data: `${k}-${i}` })))));
    const orders = await Promise.all(nodes.map((n) => n.received(CH, 60)));
    for (const got of orders) expect(seqs(got)).toEqual(range(1, 60));
    expect(orders[1].map((m) => m.data)).toEqual(orders[0].map((m) => m.data));
    expect(orders[2].map((m) => m.data)).toEqual(orders[0].map((m) => m.data));
    // Each node's own publishes keep the order they were made in.
    for (let k = 0; k < 3; k++) {
      expect(orders[0].map((m) => m.data as string).filter((d) => d.startsWith(`${k}-`))).toEqual(range(1, 20).map((i) => `${k}-${i}`));
    }
  });

  test('a resend through another node is collapsed, by client id and by dedup scope', { nodes: 2 }, async ({ deploy }) => {
    const [a, b] = await deploy(2);
    await b.engine.listen(CH);
    expect(await a.engine.publish(CH, draft({ messageId: 'once', data: 1 }))).toEqual({ seq: 1, duplicate: false });
    expect(await b.engine.publish(CH, draft({ messageId: 'once', data: 2 }))).toEqual({ seq: 1, duplicate: true });
    expect(await a.engine.publish(CH, draft({ messageId: 'once', clientId: undefined, dedupScope: 'key/k1' }))).toEqual({ seq: 2, duplicate: false });
    expect(await b.engine.publish(CH, draft({ messageId: 'once', clientId: undefined, dedupScope: 'key/k1' }))).toEqual({ seq: 2, duplicate: true });
    await b.engine.publish(CH, draft({ name: 'marker' }));
    expect(seqs(await b.received(CH, 3))).toEqual([1, 2, 3]);
    expect((await a.engine.history(CH, { limit: 10, direction: 'forwards' })).messages.map((m) => m.data)[0]).toBe(1);
  });

  test('history, position and recovery read the same from every node', { nodes: 3 }, async ({ deploy }) => {
    const nodes = await deploy(3, { historyLimit: 4 });
    for (const [k, n] of nodes.entries()) await publishMany(n.engine, CH, 2 + k);
    const positions = await Promise.all(nodes.map((n) => n.engine.position(CH)));
    expect(new Set(positions.map((p) => p.epoch)).size).toBe(1);
    expect(positions.map((p) => p.seq)).toEqual([9, 9, 9]);
    for (const n of nodes) {
      expect(seqs((await n.engine.history(CH, { limit: 10, direction: 'backwards' })).messages)).toEqual([6, 7, 8, 9]);
      expect(await n.engine.recover(CH, 5, positions[0].epoch)).toMatchObject({ resumed: true, seq: 9 });
      expect((await n.engine.recover(CH, 4, positions[0].epoch)).resumed).toBe(false);
    }
  });

  test('a cursor taken on one node resumes on another, also once the first node is gone', { nodes: 2 }, async ({ deploy }) => {
    const [a, b] = await deploy(2);
    await a.engine.listen(CH);
    await publishMany(b.engine, CH, 3);
    const seen = await a.received(CH, 3);
    const cursor = { seq: seen.at(-1)!.seq!, epoch: (await a.engine.position(CH)).epoch };
    await a.close();
    await publishMany(b.engine, CH, 2);
    const recovery = await b.engine.recover(CH, cursor.seq, cursor.epoch);
    expect(recovery).toMatchObject({ resumed: true, seq: 5, epoch: cursor.epoch });
    expect(seqs(recovery.messages)).toEqual([4, 5]);
  });

  test('listening on one node resolves once a publish on another right after it is delivered there', { nodes: 2 }, async ({ deploy }) => {
    const [a, b] = await deploy(2);
    for (let round = 1; round <= 5; round++) {
      const ch = `app/ready-${round}`;
      await a.engine.listen(ch);
      await b.engine.publish(ch, draft({ data: round }));
      expect((await a.received(ch, 1)).map((m) => m.data)).toEqual([round]);
    }
  });

  test('presence entered on one node is seen on the others, with its changes', { nodes: 3 }, async ({ deploy }) => {
    const [a, b, c] = await deploy(3);
    await Promise.all([b.engine.listen(CH), c.engine.listen(CH)]);
    const entered = clientOutcome(await a.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'a1', data: { at: 'a' } }));
    await a.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'a1', data: { at: 'a2' } });
    for (const n of [b, c]) {
      const changes = await n.announced(CH, 2);
      expect(changes.map((ch) => [ch.action, ch.hold, ch.member])).toEqual([
        ['enter', 'enter', { clientId: 'ann', connectionId: 'a1', data: { at: 'a' } }],
        ['update', 'update', { clientId: 'ann', connectionId: 'a1', data: { at: 'a2' } }],
      ]);
      expect(changes[0].pseq).toBe(entered.pseq);
      expect(await n.engine.presenceMembers(CH)).toEqual([{ clientId: 'ann', connectionId: 'a1', data: { at: 'a2' } }]);
      expect(await n.engine.presenceSync(CH)).toEqual({ members: [{ clientId: 'ann', connectionId: 'a1', data: { at: 'a2' } }], pseq: changes[1].pseq });
      expect((await n.engine.presenceSnapshot(CH)).map((m) => m.connectionId)).toEqual(['a1']);
    }
    expect(a.changes(CH)).toEqual([]);
  });

  test('one member through two nodes leaves when its last connection goes', { nodes: 3 }, async ({ deploy }) => {
    const [a, b, watcher] = await deploy(3);
    await watcher.engine.listen(CH);
    expect(clientOutcome(await a.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'a1', data: 'x' }))).toMatchObject({ action: 'enter' });
    expect(clientOutcome(await b.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'b1', data: 'x' }))).toMatchObject({ action: null });
    expect(ids(await watcher.engine.presenceMembers(CH))).toEqual(['ann']);
    expect(clientOutcome(await a.engine.presenceLeave(CH, 'ann', 'a1'))).toMatchObject({ action: null });
    expect(ids(await watcher.engine.presenceMembers(CH))).toEqual(['ann']);
    expect(clientOutcome(await b.engine.presenceLeave(CH, 'ann', 'b1'))).toMatchObject({ action: 'leave' });
    const changes = await watcher.announced(CH, 4);
    expect(changes.map((c) => [c.action, c.hold, c.holder.connectionId])).toEqual([
      ['enter', 'enter', 'a1'],
      [null, 'enter', 'b1'],
      [null, 'leave', 'a1'],
      ['leave', 'leave', 'b1'],
    ]);
    expect(await watcher.engine.presenceMembers(CH)).toEqual([]);
  });

  test('a connection that resumed on another node before the first let go stays present', { nodes: 3 }, async ({ deploy }) => {
    const [old, resumed, watcher] = await deploy(3);
    await watcher.engine.listen(CH);
    const member = { clientId: 'ann', connectionId: 'conn-1', data: 'here' };
    await old.engine.presenceEnter(CH, member);
    // The same connection id enters through the node it resumed on: nothing changed for anyone.
    expect(clientOutcome(await resumed.engine.presenceEnter(CH, member))).toMatchObject({ action: null });
    // The old node lets go of it: the connection is still held, so nobody sees it leave.
    expect(clientOutcome(await old.engine.presenceLeave(CH, 'ann', 'conn-1'))).toMatchObject({ action: null });
    expect(await watcher.engine.presenceMembers(CH)).toEqual([member]);
    await resumed.engine.presenceEnter(CH, { clientId: 'marker', connectionId: 'm1' });
    const changes = await watcher.announced(CH, 2);
    expect(changes.map((c) => [c.action, c.hold, c.holder.clientId])).toEqual([
      ['enter', 'enter', 'ann'],
      ['enter', 'enter', 'marker'],
    ]);
    // Leaving through the node it is held on now ends it.
    expect(clientOutcome(await resumed.engine.presenceLeave(CH, 'ann', 'conn-1'))).toMatchObject({ action: 'leave' });
    expect(ids(await watcher.engine.presenceMembers(CH))).toEqual(['marker']);
  });

  test("a node's close() releases its presence for the others", { nodes: 3 }, async ({ deploy }) => {
    const [leaving, staying, watcher] = await deploy(3);
    await watcher.engine.listen(CH);
    await watcher.engine.listen('app/other');
    await leaving.engine.presenceEnter(CH, { clientId: 'ann', connectionId: 'a1' });
    await leaving.engine.presenceEnter('app/other', { clientId: 'ben', connectionId: 'b1', data: 'b' });
    await staying.engine.presenceEnter(CH, { clientId: 'cat', connectionId: 'c1' });
    await leaving.close();
    for (const ch of [CH, 'app/other']) await until(() => watcher.changes(ch).some((c) => c.action === 'leave'), `a leave on ${ch}`);
    expect(watcher.changes(CH).filter((c) => c.action === 'leave').map((c) => c.member)).toEqual([{ clientId: 'ann', connectionId: 'a1' }]);
    expect(watcher.changes('app/other').filter((c) => c.action === 'leave').map((c) => c.member)).toEqual([{ clientId: 'ben', connectionId: 'b1', data: 'b' }]);
    expect(await staying.engine.presenceMembers(CH)).toEqual([{ clientId: 'cat', connectionId: 'c1' }]);
    expect(await watcher.engine.presenceSnapshot('app/other')).toEqual([]);
  });

  test('presence serials come from one counter: changes through different nodes are ordered', { nodes: 3 }, async ({ deploy }) => {
    const nodes = await deploy(3);
    const [watcher] = nodes;
    await watcher.engine.listen(CH);
    const serials: number[] = [];
    for (let i = 0; i < 9; i++) {
      const n = nodes[i % 3];
      serials.push((await n.engine.presenceEnter(CH, { clientId: `m${i % 4}`, connectionId: `c${i}`, data: i })).pseq);
    }
    for (let i = 1; i < serials.length; i++) expect(serials[i]).toBeGreaterThan(serials[i - 1]);
    for (const n of nodes) expect((await n.engine.presenceSync(CH)).pseq).toBe(serials.at(-1));
    expect((await watcher.announced(CH, 9)).map((c) => c.pseq)).toEqual(serials);
  });

  test('nodes() lists the live nodes of the deployment; a closed node is gone from it', { nodes: 3 }, async ({ deploy }) => {
    const nodes = await deploy(3);
    const [a, b, c] = nodes;
    if (!a.engine.nodes) return void expect(a.engine.nodes, 'an engine of many nodes says which are live').toBeDefined();
    const all = await a.engine.nodes();
    expect(all).toHaveLength(3);
    expect(await c.engine.nodes!()).toEqual(all);
    await b.close();
    const left = await a.engine.nodes();
    expect(left).toHaveLength(2);
    expect(all).toEqual(expect.arrayContaining(left));
  });
}
