/**
 * Presence as SDK users see it, against real servers (`HubbubServer`, in the test process): random sequences of clients
 * joining, entering, updating, leaving, dropping their socket and reconnecting, on one in-memory node
 * and on one to three nodes sharing a Redis. After each step, once things are quiet, every SDK client's
 * `presence.get()` equals the server's REST presence; and no client is ever told that a member left
 * while one of its connections held it the whole time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PresenceMessage, Realtime } from '@hubbub/client';
import { RedisEngine } from '../../packages/server/src/engine/redis.js';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/in-process.js';
import { client } from '../support/clients.js';
import { TestRedis, redisAvailable } from '../support/redis.js';

const CLIENT_IDS = ['ann', 'ben', 'cat'];
/** Slots: up to six connections; slot i is client CLIENT_IDS[i % 3], so two slots can share a member. */
const SLOTS = 6;
/** How long a step may take to converge. */
const QUIET_MS = 5_000;
/** A leave stamped this long after a connection's enter was acknowledged cannot be from before it. */
const CLOCK_MARGIN_MS = 100;

type Command =
  | { op: 'open'; slot: number; node: number; reenter: boolean; enter?: number }
  | { op: 'enter' | 'update'; slot: number; data: number }
  | { op: 'leave' | 'drop' | 'close'; slot: number };

interface Slot {
  realtime: Realtime;
  clientId: string;
  reenter: boolean;
  /** Since when (client time) this connection's hold is known to be in place; undefined: not holding. */
  heldSince?: number;
  /** What the harness last entered with. */
  data?: number;
}

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record(
    { op: fc.constant('open' as const), slot: fc.nat(SLOTS - 1), node: fc.nat(2), reenter: fc.boolean(), enter: fc.nat(3) },
    { requiredKeys: ['op', 'slot', 'node', 'reenter'] },
  ),
  fc.record({ op: fc.constantFrom('enter' as const, 'update' as const), slot: fc.nat(SLOTS - 1), data: fc.nat(3) }),
  fc.record({ op: fc.constantFrom('leave' as const, 'drop' as const, 'close' as const), slot: fc.nat(SLOTS - 1) }),
);

function presenceSuite(name: string, nodeCount: number, start: () => Promise<RunningServer[]>, stop: () => Promise<void>): void {
  describe(name, () => {
    let nodes: RunningServer[] = [];
    let tokens: Record<string, string> = {};
    let runs = 0;

    beforeAll(async () => {
      nodes = await start();
      tokens = Object.fromEntries(await Promise.all(CLIENT_IDS.map(async (id) => [id, await devtoken('props', id)] as const)));
    }, 60_000);
    afterAll(stop);

    it(`get() equals REST presence at every quiet point, with no false leave (${nodeCount} node${nodeCount > 1 ? 's' : ''})`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(commandArb, { minLength: 4, maxLength: 14 }), async (commands) => {
          const channelName = `props:run-${runs++}-${Date.now()}`;
          const slots = new Map<number, Slot>();
          const falseLeaves: string[] = [];
          const watch = (slot: Slot, index: number) => {
            slot.realtime.channels.get(channelName).presence.on((m: PresenceMessage) => {
              if (m.action !== 'leave') return;
              const stamped = m.timestamp ?? Date.now();
              for (const [i, other] of slots) {
                if (other.clientId === m.clientId && other.heldSince !== undefined && other.heldSince < stamped - CLOCK_MARGIN_MS) {
                  falseLeaves.push(`slot ${index} saw ${m.clientId} leave at ${stamped} while slot ${i} held it since ${other.heldSince}`);
                }
              }
            });
          };
          try {
            for (const command of commands) {
              await apply(command, slots, nodes.slice(0, nodeCount), tokens, channelName, watch);
              await converged(slots, nodes[0], channelName, command);
            }
            expect(falseLeaves).toEqual([]);
          } finally {
            for (const slot of slots.values()) slot.realtime.close();
          }
        }),
        { numRuns: 12, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: false },
      );
    }, 180_000);
  });
}

async function apply(
  command: Command,
  slots: Map<number, Slot>,
  nodes: RunningServer[],
  tokens: Record<string, string>,
  channelName: string,
  watch: (slot: Slot, index: number) => void,
): Promise<void> {
  const slot = slots.get(command.slot);
  if (command.op === 'open') {
    if (slot) return;
    const clientId = CLIENT_IDS[command.slot % CLIENT_IDS.length];
    const node = nodes[command.node % nodes.length];
    const realtime = client(node.url, { token: tokens[clientId], autoReenterPresence: command.reenter, reconnectDelayMs: 50, reconnectMaxDelayMs: 200 });
    const opened: Slot = { realtime, clientId, reenter: command.reenter };
    slots.set(command.slot, opened);
    // As the README's tour does: listen at once (while connecting), then enter once connected.
    watch(opened, command.slot);
    if (command.enter !== undefined) {
      await realtime.connection.once('connected');
      await realtime.channels.get(channelName).presence.enter(command.enter);
      opened.data = command.enter;
      opened.heldSince = Date.now();
    }
    await realtime.channels.get(channelName).presence.get();
    return;
  }
  if (!slot) return;
  const presence = slot.realtime.channels.get(channelName).presence;
  switch (command.op) {
    case 'enter':
    case 'update':
      await presence[command.op](command.data);
      slot.data = command.data;
      slot.heldSince ??= Date.now();
      return;
    case 'leave':
      slot.heldSince = undefined;
      slot.data = undefined;
      await presence.leave();
      return;
    case 'drop': {
      // The network goes: the socket is cut without a close frame, and the SDK reconnects by itself.
      slot.heldSince = undefined;
      if (!slot.reenter) slot.data = undefined;
      const socket = (slot.realtime as unknown as { conn: { socket?: { terminate?: () => void } } }).conn.socket;
      socket?.terminate?.();
      await slot.realtime.connection.once('connected');
      return;
    }
    case 'close':
      slot.heldSince = undefined;
      slots.delete(command.slot);
      slot.realtime.close();
  }
}

/** The members by client id as the server holds them: each client's latest connection speaks for it. */
async function serverPresence(node: RunningServer, channelName: string): Promise<Map<string, Set<string>>> {
  const token = await devtoken('props', 'observer');
  const res = await fetch(`${node.http}/channels/${encodeURIComponent(channelName)}/presence`, { headers: { authorization: `Bearer ${token}` } });
  const holds = (await res.json()) as Array<{ clientId: string; data?: unknown; timestamp: number }>;
  const latest = new Map<string, { at: number; data: Set<string> }>();
  for (const h of holds) {
    const seen = latest.get(h.clientId);
    const data = JSON.stringify(h.data ?? null);
    if (!seen || h.timestamp > seen.at) latest.set(h.clientId, { at: h.timestamp, data: new Set([data]) });
    else if (h.timestamp === seen.at) seen.data.add(data);
  }
  return new Map([...latest].map(([id, v]) => [id, v.data]));
}

/** Wait until every connected client's view equals the server's; fail with both views if it never does. */
async function converged(slots: Map<number, Slot>, node: RunningServer, channelName: string, after: Command): Promise<void> {
  const deadline = Date.now() + QUIET_MS;
  let last = '';
  for (;;) {
    const server = await serverPresence(node, channelName);
    const mismatches: string[] = [];
    for (const [index, slot] of slots) {
      if (slot.realtime.connection.state !== 'connected') {
        mismatches.push(`slot ${index} is ${slot.realtime.connection.state}`);
        continue;
      }
      const seen = await slot.realtime.channels.get(channelName).presence.get();
      const view = new Map(seen.map((m) => [m.clientId, JSON.stringify(m.data ?? null)]));
      const same = view.size === server.size && [...view].every(([id, data]) => server.get(id)?.has(data));
      if (!same) mismatches.push(`slot ${index} sees ${JSON.stringify([...view])}`);
    }
    if (mismatches.length === 0) return;
    last = `after ${JSON.stringify(after)}: server ${JSON.stringify([...server].map(([id, d]) => [id, [...d]]))}; ${mismatches.join('; ')}`;
    if (Date.now() > deadline) throw new Error(`presence did not converge: ${last}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let memoryNode: RunningServer | undefined;
presenceSuite(
  'presence property: one in-memory node',
  1,
  async () => [(memoryNode = await startServer())],
  async () => cleanup(memoryNode),
);

if (redisAvailable()) {
  let redis: TestRedis | undefined;
  let redisNodes: RunningServer[] = [];
  for (const count of [1, 3]) {
    presenceSuite(
      `presence property: ${count} node${count > 1 ? 's' : ''} on Redis`,
      count,
      async () => {
        redis ??= await TestRedis.start();
        if (redisNodes.length === 0) {
          const dataDir = mkdtempSync(join(tmpdir(), 'hubbub-presence-props-'));
          for (let i = 0; i < 3; i++) redisNodes.push(await startServer({ engine: new RedisEngine({ url: redis.url, nodeTtlMs: 2_000 }) }, { dataDir }));
        }
        return redisNodes;
      },
      async () => {
        if (count !== 3) return;
        await Promise.all(redisNodes.map(cleanup));
        await redis?.stop();
      },
    );
  }
}
