import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ChannelEvents, ChannelHub, type HubConnection } from '../src/core/channel-hub.js';

const CHANNELS = ['room-a', 'room-b'] as const;
const MEMBERS = ['m0', 'm1', 'm2'] as const;
const CONNECTIONS = 5;

type Op =
  | { kind: 'join'; channel: number; conn: number; member: number }
  | { kind: 'leave'; channel: number; conn: number; member: number }
  | { kind: 'drop'; conn: number };

interface FakeConnection extends HubConnection {
  sent: Array<{ type: string; payload: unknown }>;
}

function fakeConnection(id: string): FakeConnection {
  const sent: Array<{ type: string; payload: unknown }> = [];
  return { id, sent, send: (type, payload) => void sent.push({ type, payload }), onClose: () => {} };
}

/** `member` is only used by the property that lets a connection join as any member. */
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('join' as const),
    channel: fc.nat(CHANNELS.length - 1),
    conn: fc.nat(CONNECTIONS - 1),
    member: fc.nat(MEMBERS.length - 1),
  }),
  fc.record({
    kind: fc.constant('leave' as const),
    channel: fc.nat(CHANNELS.length - 1),
    conn: fc.nat(CONNECTIONS - 1),
    member: fc.nat(MEMBERS.length - 1),
  }),
  fc.record({ kind: fc.constant('drop' as const), conn: fc.nat(CONNECTIONS - 1) }),
);

/** The model: per channel, which connection is joined as which member. */
class Model {
  readonly joined = new Map<string, Map<number, string>>(CHANNELS.map((c) => [c, new Map()]));

  present(channel: string): Set<string> {
    return new Set(this.joined.get(channel)!.values());
  }

  join(channel: string, conn: number, member: string): void {
    this.joined.get(channel)!.set(conn, member);
  }

  leave(channel: string, conn: number, member: string): void {
    const conns = this.joined.get(channel)!;
    if (conns.get(conn) === member) conns.delete(conn);
  }

  drop(conn: number): void {
    for (const conns of this.joined.values()) conns.delete(conn);
  }
}

const sorted = (values: Iterable<string>) => [...values].sort();

/**
 * Run the ops against a hub and the model. With `observe`, an observer connection (member
 * `observer`) sits in both channels throughout and must hear exactly the model's presence
 * transitions. Without it, a channel can empty out, so the hub's forget-and-recreate path is used.
 */
function check(ops: Op[], memberOf: (op: Op & { conn: number; member: number }) => string, observe = true): void {
  const hub = new ChannelHub();
  const model = new Model();
  const conns = Array.from({ length: CONNECTIONS }, (_, i) => fakeConnection(`c${i}`));
  const observer = fakeConnection('observer-conn');
  if (observe) for (const channel of CHANNELS) hub.join(channel, 'observer', observer);
  const extra = observe ? ['observer'] : [];
  /** Presence as the observer has pieced it together from events. */
  const seen = new Map<string, Set<string>>(CHANNELS.map((c) => [c, new Set()]));

  for (const op of ops) {
    const before = new Map(CHANNELS.map((c) => [c, model.present(c)]));
    observer.sent.length = 0;

    if (op.kind === 'join') {
      const channel = CHANNELS[op.channel];
      const member = memberOf(op);
      const { newlyPresent } = hub.join(channel, member, conns[op.conn]);
      model.join(channel, op.conn, member);
      expect(newlyPresent, `join ${channel} ${member} c${op.conn}`).toBe(!before.get(channel)!.has(member));
    } else if (op.kind === 'leave') {
      const channel = CHANNELS[op.channel];
      const member = memberOf(op);
      const { nowAbsent } = hub.leave(channel, member, conns[op.conn]);
      model.leave(channel, op.conn, member);
      expect(nowAbsent, `leave ${channel} ${member} c${op.conn}`).toBe(
        before.get(channel)!.has(member) && !model.present(channel).has(member),
      );
    } else {
      hub.disconnect(conns[op.conn]);
      model.drop(op.conn);
    }

    for (const channel of CHANNELS) {
      const expected = model.present(channel);
      const was = before.get(channel)!;

      // Presence is exactly the members with at least one connection joined (plus the observer).
      expect(sorted(hub.presence(channel)), `presence of ${channel}`).toEqual(sorted([...expected, ...extra]));
      for (const member of MEMBERS) expect(hub.isPresent(channel, member)).toBe(expected.has(member));
      expect(hub.memberCount(channel)).toBe(expected.size + extra.length);
      expect(hub.connectionCount(channel)).toBe(model.joined.get(channel)!.size + extra.length);
      if (!observe) continue;

      // The observer hears each transition once, and nothing else.
      const events = observer.sent.filter(
        (e) => (e.payload as { channel?: string }).channel === channel,
      ) as Array<{ type: string; payload: { channel: string; memberId: string } }>;
      const view = seen.get(channel)!;
      for (const { type, payload } of events) {
        if (type === ChannelEvents.PresenceJoin) {
          expect(view.has(payload.memberId), `join for ${payload.memberId}, already present in ${channel}`).toBe(false);
          view.add(payload.memberId);
        } else if (type === ChannelEvents.PresenceLeave) {
          expect(expected.has(payload.memberId), `leave for ${payload.memberId}, still connected to ${channel}`).toBe(false);
          expect(view.has(payload.memberId), `leave for ${payload.memberId}, not present in ${channel}`).toBe(true);
          view.delete(payload.memberId);
        } else {
          throw new Error(`unexpected event ${type}`);
        }
      }
      const joins = events.filter((e) => e.type === ChannelEvents.PresenceJoin).map((e) => e.payload.memberId);
      const leaves = events.filter((e) => e.type === ChannelEvents.PresenceLeave).map((e) => e.payload.memberId);
      expect(sorted(joins), `joins heard in ${channel}`).toEqual(sorted([...expected].filter((m) => !was.has(m))));
      expect(sorted(leaves), `leaves heard in ${channel}`).toEqual(sorted([...was].filter((m) => !expected.has(m))));
      expect(sorted(view)).toEqual(sorted(expected));
    }
  }
}

describe('ChannelHub: presence follows a model', () => {
  it('over join / leave / drop, presence and the events heard match the model (each connection is one member)', () => {
    fc.assert(
      fc.property(
        // Which member each connection joins as.
        fc.array(fc.nat(MEMBERS.length - 1), { minLength: CONNECTIONS, maxLength: CONNECTIONS }),
        fc.array(opArb, { maxLength: 60 }),
        fc.boolean(),
        (memberOfConn, ops, observe) => check(ops, (op) => MEMBERS[memberOfConn[op.conn]], observe),
      ),
      { numRuns: 300 },
    );
  });

  it('the same holds when a connection may join (or leave) as any member', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.boolean(), (ops, observe) =>
        check(ops, (op) => MEMBERS[op.member], observe),
      ),
      { numRuns: 300 },
    );
  });
});
