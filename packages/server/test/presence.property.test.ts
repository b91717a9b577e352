import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { PresenceAction } from '@hubbub/protocol';
import { ChannelPresence } from '../src/core/presence.js';

describe('ChannelPresence: examples', () => {
  it('counts a client on two devices once, and it leaves only with its last device', () => {
    const p = new ChannelPresence();
    expect(p.enter('alice', 'phone')).toBe('enter');
    expect(p.enter('alice', 'laptop')).toBeNull();
    expect(p.size).toBe(1);
    expect(p.connectionCount).toBe(2);
    expect(p.list().map((m) => m.clientId)).toEqual(['alice']);

    expect(p.leave('alice', 'phone')).toBeNull();
    expect(p.has('alice')).toBe(true);
    expect(p.holds('alice', 'phone')).toBe(false);
    expect(p.holds('alice', 'laptop')).toBe(true);

    expect(p.leave('alice', 'laptop')).toBe('leave');
    expect(p.has('alice')).toBe(false);
    expect(p.size).toBe(0);
    expect(p.list()).toEqual([]);
  });

  it('a reconnect that enters before the old connection drops causes no flicker', () => {
    const p = new ChannelPresence();
    const events: Array<PresenceAction | null> = [];
    events.push(p.enter('bob', 'conn-1', { status: 'online' }));
    // The new connection comes up and re-enters, then the old one is noticed as dead.
    events.push(p.enter('bob', 'conn-2', { status: 'online' }));
    events.push(p.leave('bob', 'conn-1'));
    expect(events.filter(Boolean)).toEqual(['enter']);
    expect(p.member('bob')).toEqual({ clientId: 'bob', connectionId: 'conn-2', data: { status: 'online' } });
  });

  it('shows the data of the connection that spoke last', () => {
    const p = new ChannelPresence();
    expect(p.enter('carol', 'phone', { status: 'online' })).toBe('enter');
    expect(p.enter('carol', 'laptop', { status: 'away' })).toBe('update');
    expect(p.member('carol')).toEqual({ clientId: 'carol', connectionId: 'laptop', data: { status: 'away' } });

    expect(p.enter('carol', 'phone', { status: 'busy' }, 'json')).toBe('update');
    expect(p.member('carol')).toEqual({ clientId: 'carol', connectionId: 'phone', data: { status: 'busy' }, encoding: 'json' });

    // The phone lets go: the laptop's data shows again.
    expect(p.leave('carol', 'phone')).toBe('update');
    expect(p.member('carol')).toEqual({ clientId: 'carol', connectionId: 'laptop', data: { status: 'away' } });
  });

  it('an update with unchanged data is silent', () => {
    const p = new ChannelPresence();
    p.enter('dave', 'c1', { n: 1 });
    expect(p.enter('dave', 'c1', { n: 1 })).toBeNull();
    expect(p.enter('dave', 'c1', { n: 2 })).toBe('update');
  });

  it('leaving through a connection that holds nothing is a no-op', () => {
    const p = new ChannelPresence();
    expect(p.leave('nobody', 'c1')).toBeNull();
    p.enter('erin', 'c1');
    expect(p.leave('erin', 'c2')).toBeNull();
    expect(p.leave('frank', 'c1')).toBeNull();
    expect(p.has('erin')).toBe(true);
  });
});

// ---- property: the presence set and its events follow a simple reference model ----

const CLIENTS = ['alice', 'bob', 'carol'];
const SLOTS = 3;
const DATA = [undefined, 'online', { status: 'away' }, [1, 2]];

type Op =
  | { kind: 'enter' | 'update'; client: number; slot: number; data: number; encoding: boolean }
  | { kind: 'leave' | 'drop'; client: number; slot: number };

const target = { client: fc.nat(CLIENTS.length - 1), slot: fc.nat(SLOTS - 1) };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('enter' as const, 'update' as const), ...target, data: fc.nat(DATA.length - 1), encoding: fc.boolean() }),
  fc.record({ kind: fc.constantFrom('leave' as const, 'drop' as const), ...target }),
);

interface ModelHold {
  connectionId: string;
  data: unknown;
  encoding?: string;
}

/** The obvious model: per client, the connections holding presence in order of their last enter. */
class Model {
  readonly holds = new Map<string, ModelHold[]>();
  /** A dropped connection comes back under a new id (a reconnect), as a real transport would. */
  private readonly generation = new Map<string, number>();

  connectionId(client: string, slot: number): string {
    return `${client}/${slot}#${this.generation.get(`${client}/${slot}`) ?? 0}`;
  }

  drop(client: string, slot: number): void {
    const key = `${client}/${slot}`;
    this.generation.set(key, (this.generation.get(key) ?? 0) + 1);
  }

  visible(client: string): ModelHold | undefined {
    const list = this.holds.get(client);
    return list?.[list.length - 1];
  }

  enter(client: string, hold: ModelHold): void {
    const list = (this.holds.get(client) ?? []).filter((h) => h.connectionId !== hold.connectionId);
    list.push(hold);
    this.holds.set(client, list);
  }

  leave(client: string, connectionId: string): void {
    const list = (this.holds.get(client) ?? []).filter((h) => h.connectionId !== connectionId);
    if (list.length) this.holds.set(client, list);
    else this.holds.delete(client);
  }
}

const sameView = (a: ModelHold | undefined, b: ModelHold | undefined) =>
  a?.encoding === b?.encoding && JSON.stringify(a?.data) === JSON.stringify(b?.data);

describe('ChannelPresence: property', () => {
  it('members are exactly the clients with a connection holding presence, and events match', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const presence = new ChannelPresence();
        const model = new Model();
        /** Events each client produced, in order, to check that enter and leave alternate. */
        const timeline = new Map<string, PresenceAction[]>();

        for (const op of ops) {
          const client = CLIENTS[op.client];
          const connectionId = model.connectionId(client, op.slot);
          const wasPresent = model.holds.has(client);
          const heldBefore = model.holds.get(client)?.length ?? 0;
          const holdsThis = model.holds.get(client)?.some((h) => h.connectionId === connectionId) ?? false;
          const visibleBefore = model.visible(client);
          let action: PresenceAction | null;

          if (op.kind === 'enter' || op.kind === 'update') {
            const hold: ModelHold = { connectionId, data: DATA[op.data], ...(op.encoding ? { encoding: 'json' } : {}) };
            action = presence.enter(client, connectionId, hold.data, hold.encoding);
            model.enter(client, hold);
            if (!wasPresent) expect(action).toBe('enter');
            else expect(action).toBe(sameView(visibleBefore, hold) ? null : 'update');
          } else {
            action = presence.leave(client, connectionId);
            model.leave(client, connectionId);
            if (op.kind === 'drop') model.drop(client, op.slot);
            if (!holdsThis) expect(action).toBeNull();
            else if (heldBefore === 1) expect(action).toBe('leave');
            else expect(action).toBe(sameView(visibleBefore, model.visible(client)) ? null : 'update');
          }

          if (action) {
            const events = timeline.get(client) ?? [];
            events.push(action);
            timeline.set(client, events);
          }

          // The member set is the set of clients with at least one holding connection.
          expect(new Set(presence.list().map((m) => m.clientId))).toEqual(new Set(model.holds.keys()));
          expect(presence.size).toBe(model.holds.size);
          let connections = 0;
          for (const [c, holds] of model.holds) {
            connections += holds.length;
            expect(presence.has(c)).toBe(true);
            for (const h of holds) expect(presence.holds(c, h.connectionId)).toBe(true);
            // What others see is the connection that spoke last.
            const latest = holds[holds.length - 1];
            const member = presence.member(c)!;
            expect(member.connectionId).toBe(latest.connectionId);
            expect(member.data).toEqual(latest.data);
            expect(member.encoding).toBe(latest.encoding);
          }
          expect(presence.connectionCount).toBe(connections);
          for (const c of CLIENTS) if (!model.holds.has(c)) expect(presence.member(c)).toBeUndefined();
        }

        // Per client, the visible story is enter (update)* leave, repeated: never two enters in a row.
        for (const events of timeline.values()) {
          const edges = events.filter((a) => a !== 'update');
          edges.forEach((a, i) => expect(a).toBe(i % 2 === 0 ? 'enter' : 'leave'));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a second connection entering before the first leaves never produces leave+enter', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CLIENTS), fc.nat(DATA.length - 1), fc.nat(DATA.length - 1), (client, d1, d2) => {
        const presence = new ChannelPresence();
        const actions = [
          presence.enter(client, 'old', DATA[d1]),
          presence.enter(client, 'new', DATA[d2]),
          presence.leave(client, 'old'),
        ];
        expect(actions[0]).toBe('enter');
        expect(actions.slice(1)).not.toContain('enter');
        expect(actions.slice(1)).not.toContain('leave');
        expect(presence.member(client)?.connectionId).toBe('new');
        expect(presence.leave(client, 'new')).toBe('leave');
      }),
    );
  });
});
