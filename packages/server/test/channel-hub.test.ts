import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChannelEvents, ChannelHub, type HubConnection } from '../src/core/channel-hub.js';

interface FakeConnection extends HubConnection {
  /** Every `send` call, in order. */
  readonly sent: Array<{ type: string; payload: unknown }>;
  /** Fire the callbacks registered through `onClose`, as a closing socket would. */
  close(): void;
  /** What was sent with this type. */
  of(type: string): unknown[];
  clear(): void;
}

function fakeConnection(id: string): FakeConnection {
  const sent: Array<{ type: string; payload: unknown }> = [];
  const closers: Array<() => void> = [];
  return {
    id,
    sent,
    send(type, payload) {
      sent.push({ type, payload });
    },
    onClose(fn) {
      closers.push(fn);
    },
    close() {
      for (const fn of closers) fn();
    },
    of(type) {
      return sent.filter((s) => s.type === type).map((s) => s.payload);
    },
    clear() {
      sent.length = 0;
    },
  };
}

const join = (channel: string, memberId: string) => ({ type: ChannelEvents.PresenceJoin, payload: { channel, memberId } });
const leave = (channel: string, memberId: string) => ({ type: ChannelEvents.PresenceLeave, payload: { channel, memberId } });
const typing = (channel: string, memberId: string, on: boolean) => ({
  type: ChannelEvents.Typing,
  payload: { channel, memberId, typing: on },
});

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('ChannelEvents', () => {
  it('names the events a connection receives', () => {
    expect(ChannelEvents.PresenceJoin).toBe('presence:join');
    expect(ChannelEvents.PresenceLeave).toBe('presence:leave');
    expect(ChannelEvents.Typing).toBe('typing');
  });
});

describe('ChannelHub: membership', () => {
  it('join reports a newly present member and tells the others, not the joiner', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');

    expect(hub.join('room', 'alice', a)).toEqual({ newlyPresent: true });
    expect(a.sent).toEqual([]);

    expect(hub.join('room', 'bob', b)).toEqual({ newlyPresent: true });
    expect(a.sent).toEqual([join('room', 'bob')]);
    expect(b.sent).toEqual([]);

    expect(hub.presence('room').sort()).toEqual(['alice', 'bob']);
    expect(hub.isPresent('room', 'alice')).toBe(true);
    expect(hub.isPresent('room', 'carol')).toBe(false);
    expect(hub.channelNames()).toEqual(['room']);
  });

  it('leave reports when the member is gone and tells the others', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.join('room', 'alice', a);
    hub.join('room', 'bob', b);
    a.clear();

    expect(hub.leave('room', 'bob', b)).toEqual({ nowAbsent: true });
    expect(a.sent).toEqual([leave('room', 'bob')]);
    expect(b.sent).toEqual([]);
    expect(hub.presence('room')).toEqual(['alice']);
    expect(hub.isPresent('room', 'bob')).toBe(false);
  });

  it('leave of a connection that is not in the channel changes nothing', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.join('room', 'alice', a);

    expect(hub.leave('room', 'bob', b)).toEqual({ nowAbsent: false });
    // Right connection, wrong member: not a hold of that member.
    expect(hub.leave('room', 'bob', a)).toEqual({ nowAbsent: false });
    expect(hub.leave('elsewhere', 'alice', a)).toEqual({ nowAbsent: false });
    expect(hub.presence('room')).toEqual(['alice']);
    expect(hub.connectionCount('room')).toBe(1);
    expect(a.sent).toEqual([]);
  });

  it('joining twice on the same connection is not a second join', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.join('room', 'alice', a);
    hub.join('room', 'bob', b);
    a.clear();

    expect(hub.join('room', 'bob', b)).toEqual({ newlyPresent: false });
    expect(a.sent).toEqual([]);
    expect(hub.connectionCount('room')).toBe(2);
    expect(hub.memberCount('room')).toBe(2);
  });

  it('forgets a channel once its last connection leaves', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    hub.join('room', 'alice', a);
    hub.leave('room', 'alice', a);

    expect(hub.channelNames()).toEqual([]);
    expect(hub.presence('room')).toEqual([]);
    expect(hub.memberCount('room')).toBe(0);
    expect(hub.connectionCount('room')).toBe(0);
  });

  it('channels are independent', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.join('one', 'alice', a);
    hub.join('two', 'bob', b);

    expect(a.sent).toEqual([]);
    expect(hub.presence('one')).toEqual(['alice']);
    expect(hub.presence('two')).toEqual(['bob']);
    expect(hub.isPresent('one', 'bob')).toBe(false);
    expect(hub.channelNames().sort()).toEqual(['one', 'two']);
  });

  it('a connection that joins again as another member: the old member leaves, the new one is present', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const observer = fakeConnection('obs');
    hub.join('room', 'watcher', observer);
    hub.join('room', 'alice', a);
    observer.clear();

    expect(hub.join('room', 'bob', a)).toEqual({ newlyPresent: true });
    expect(observer.sent).toEqual([leave('room', 'alice'), join('room', 'bob')]);
    expect(hub.presence('room').sort()).toEqual(['bob', 'watcher']);
    expect(hub.connectionCount('room')).toBe(2);
  });

  it('a lone connection that joins again as another member is still in the channel', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    hub.join('room', 'alice', a);

    expect(hub.join('room', 'bob', a)).toEqual({ newlyPresent: true });
    expect(hub.presence('room')).toEqual(['bob']);
    expect(hub.isPresent('room', 'bob')).toBe(true);
    expect(hub.connectionCount('room')).toBe(1);
    expect(hub.publish('room', 'chat', 'hi')).toBe(1);
  });
});

describe('ChannelHub: one member on several connections', () => {
  it('counts a member on two devices once, and it leaves with its last connection', () => {
    const hub = new ChannelHub();
    const phone = fakeConnection('phone');
    const laptop = fakeConnection('laptop');
    const bob = fakeConnection('bob-1');
    hub.join('room', 'bob', bob);

    expect(hub.join('room', 'alice', phone)).toEqual({ newlyPresent: true });
    expect(hub.join('room', 'alice', laptop)).toEqual({ newlyPresent: false });
    expect(bob.of(ChannelEvents.PresenceJoin)).toEqual([{ channel: 'room', memberId: 'alice' }]);
    expect(hub.memberCount('room')).toBe(2);
    expect(hub.connectionCount('room')).toBe(3);
    expect(hub.presence('room').sort()).toEqual(['alice', 'bob']);

    expect(hub.leave('room', 'alice', phone)).toEqual({ nowAbsent: false });
    expect(bob.of(ChannelEvents.PresenceLeave)).toEqual([]);
    expect(hub.isPresent('room', 'alice')).toBe(true);
    expect(hub.memberCount('room')).toBe(2);
    expect(hub.connectionCount('room')).toBe(2);

    expect(hub.leave('room', 'alice', laptop)).toEqual({ nowAbsent: true });
    expect(bob.of(ChannelEvents.PresenceLeave)).toEqual([{ channel: 'room', memberId: 'alice' }]);
    expect(hub.isPresent('room', 'alice')).toBe(false);
    expect(hub.memberCount('room')).toBe(1);
    expect(hub.connectionCount('room')).toBe(1);
  });

  it('a member does not hear about its own second connection', () => {
    const hub = new ChannelHub();
    const phone = fakeConnection('phone');
    const laptop = fakeConnection('laptop');
    hub.join('room', 'alice', phone);
    hub.join('room', 'alice', laptop);
    expect(phone.sent).toEqual([]);
    expect(laptop.sent).toEqual([]);
  });

  it('connect-then-replace causes no presence flicker', () => {
    const hub = new ChannelHub();
    const observer = fakeConnection('obs');
    const oldConn = fakeConnection('old');
    const newConn = fakeConnection('new');
    hub.join('room', 'watcher', observer);
    hub.join('room', 'alice', oldConn);
    observer.clear();

    // The client reconnects: the new connection joins, then the old one is noticed as gone.
    expect(hub.join('room', 'alice', newConn)).toEqual({ newlyPresent: false });
    hub.disconnect(oldConn);

    expect(observer.sent).toEqual([]);
    expect(hub.presence('room').sort()).toEqual(['alice', 'watcher']);
    expect(hub.connectionCount('room')).toBe(2);
    // Only the new connection receives what is published now.
    expect(hub.publish('room', 'chat', 'hi', { exceptConnId: 'obs' })).toBe(1);
    expect(newConn.of('chat')).toEqual(['hi']);
    expect(oldConn.of('chat')).toEqual([]);
  });
});

describe('ChannelHub: disconnect and bind', () => {
  it('disconnect removes a connection from every channel it is in', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.join('one', 'alice', a);
    hub.join('two', 'alice', a);
    hub.join('three', 'alice', a);
    hub.join('one', 'bob', b);
    hub.join('two', 'bob', b);
    b.clear();

    hub.disconnect(a);

    expect(b.sent).toEqual([leave('one', 'alice'), leave('two', 'alice')]);
    expect(hub.isPresent('one', 'alice')).toBe(false);
    expect(hub.isPresent('two', 'alice')).toBe(false);
    expect(hub.isPresent('three', 'alice')).toBe(false);
    expect(hub.channelNames().sort()).toEqual(['one', 'two']);
    expect(hub.publish('one', 'chat', 'x')).toBe(1);
    expect(a.of('chat')).toEqual([]);
  });

  it('disconnect of an unknown connection, or twice, is harmless', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.disconnect(a);
    hub.join('room', 'bob', b);
    hub.join('room', 'alice', a);
    hub.disconnect(a);
    hub.disconnect(a);
    expect(b.sent).toEqual([join('room', 'alice'), leave('room', 'alice')]);
    expect(hub.presence('room')).toEqual(['bob']);
  });

  it('bind disconnects the connection when it closes', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.bind(a);
    hub.join('one', 'alice', a);
    hub.join('two', 'alice', a);
    hub.join('one', 'bob', b);
    b.clear();

    a.close();

    expect(b.sent).toEqual([leave('one', 'alice')]);
    expect(hub.isPresent('one', 'alice')).toBe(false);
    expect(hub.channelNames()).toEqual(['one']);
  });

  it('binding the same connection twice registers one close handler', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const onClose = vi.spyOn(a, 'onClose');
    hub.bind(a);
    hub.bind(a);
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('nothing happens on close without bind', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    hub.join('room', 'alice', a);
    a.close();
    expect(hub.isPresent('room', 'alice')).toBe(true);
  });
});

describe('ChannelHub: publish', () => {
  function room() {
    const hub = new ChannelHub();
    const alicePhone = fakeConnection('alice-phone');
    const aliceLaptop = fakeConnection('alice-laptop');
    const bob = fakeConnection('bob');
    hub.join('room', 'alice', alicePhone);
    hub.join('room', 'alice', aliceLaptop);
    hub.join('room', 'bob', bob);
    for (const c of [alicePhone, aliceLaptop, bob]) c.clear();
    return { hub, alicePhone, aliceLaptop, bob };
  }

  it('reaches every connection and returns how many got it', () => {
    const { hub, alicePhone, aliceLaptop, bob } = room();
    expect(hub.publish('room', 'chat', { text: 'hi' })).toBe(3);
    for (const c of [alicePhone, aliceLaptop, bob]) expect(c.sent).toEqual([{ type: 'chat', payload: { text: 'hi' } }]);
  });

  it('exceptConnId skips one connection', () => {
    const { hub, alicePhone, aliceLaptop, bob } = room();
    expect(hub.publish('room', 'chat', 'hi', { exceptConnId: 'alice-phone' })).toBe(2);
    expect(alicePhone.of('chat')).toEqual([]);
    expect(aliceLaptop.of('chat')).toEqual(['hi']);
    expect(bob.of('chat')).toEqual(['hi']);
  });

  it('exceptMemberId skips every connection of the member', () => {
    const { hub, alicePhone, aliceLaptop, bob } = room();
    expect(hub.publish('room', 'chat', 'hi', { exceptMemberId: 'alice' })).toBe(1);
    expect(alicePhone.of('chat')).toEqual([]);
    expect(aliceLaptop.of('chat')).toEqual([]);
    expect(bob.of('chat')).toEqual(['hi']);
  });

  it('both exceptions together', () => {
    const { hub, alicePhone, aliceLaptop, bob } = room();
    expect(hub.publish('room', 'chat', 'hi', { exceptMemberId: 'bob', exceptConnId: 'alice-laptop' })).toBe(1);
    expect(alicePhone.of('chat')).toEqual(['hi']);
    expect(aliceLaptop.of('chat')).toEqual([]);
    expect(bob.of('chat')).toEqual([]);
  });

  it('publishing to an empty or unknown channel delivers to no one', () => {
    const { hub, bob } = room();
    expect(hub.publish('nowhere', 'chat', 'hi')).toBe(0);
    expect(bob.sent).toEqual([]);
  });
});

describe('ChannelHub: typing', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function room(typingTtlMs = 1000) {
    vi.useFakeTimers();
    const hub = new ChannelHub({ typingTtlMs });
    const alice = fakeConnection('alice-1');
    const alice2 = fakeConnection('alice-2');
    const bob = fakeConnection('bob-1');
    hub.join('room', 'alice', alice);
    hub.join('room', 'alice', alice2);
    hub.join('room', 'bob', bob);
    for (const c of [alice, alice2, bob]) c.clear();
    return { hub, alice, alice2, bob };
  }

  it('broadcasts typing: true to the others', () => {
    const { hub, alice, alice2, bob } = room();
    hub.setTyping('room', 'alice', true);
    expect(bob.sent).toEqual([typing('room', 'alice', true)]);
    expect(alice.sent).toEqual([]);
    expect(alice2.sent).toEqual([]);
    expect(hub.typingMembers('room')).toEqual(['alice']);
  });

  it('clears itself after typingTtlMs with a typing: false broadcast', () => {
    const { hub, bob } = room(1000);
    hub.setTyping('room', 'alice', true);

    vi.advanceTimersByTime(999);
    expect(hub.typingMembers('room')).toEqual(['alice']);
    expect(bob.sent).toEqual([typing('room', 'alice', true)]);

    vi.advanceTimersByTime(1);
    expect(hub.typingMembers('room')).toEqual([]);
    expect(bob.sent).toEqual([typing('room', 'alice', true), typing('room', 'alice', false)]);

    vi.advanceTimersByTime(10_000);
    expect(bob.sent).toHaveLength(2);
  });

  it('uses a 5 second TTL by default', () => {
    vi.useFakeTimers();
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.join('room', 'alice', a);
    hub.join('room', 'bob', b);
    b.clear();
    hub.setTyping('room', 'alice', true);
    vi.advanceTimersByTime(4999);
    expect(hub.typingMembers('room')).toEqual(['alice']);
    vi.advanceTimersByTime(1);
    expect(hub.typingMembers('room')).toEqual([]);
    expect(b.of(ChannelEvents.Typing)).toEqual([
      { channel: 'room', memberId: 'alice', typing: true },
      { channel: 'room', memberId: 'alice', typing: false },
    ]);
  });

  it('a refresh extends the TTL without a second typing: true', () => {
    const { hub, bob } = room(1000);
    hub.setTyping('room', 'alice', true);
    vi.advanceTimersByTime(800);
    hub.setTyping('room', 'alice', true);
    expect(bob.sent).toEqual([typing('room', 'alice', true)]);

    // Past the first deadline, still typing.
    vi.advanceTimersByTime(800);
    expect(hub.typingMembers('room')).toEqual(['alice']);
    expect(bob.sent).toEqual([typing('room', 'alice', true)]);

    // A full TTL after the refresh, it clears.
    vi.advanceTimersByTime(200);
    expect(hub.typingMembers('room')).toEqual([]);
    expect(bob.sent).toEqual([typing('room', 'alice', true), typing('room', 'alice', false)]);
  });

  it('setTyping(false) clears at once, and the timer does not fire later', () => {
    const { hub, bob } = room(1000);
    hub.setTyping('room', 'alice', true);
    vi.advanceTimersByTime(100);
    hub.setTyping('room', 'alice', false);
    expect(hub.typingMembers('room')).toEqual([]);
    expect(bob.sent).toEqual([typing('room', 'alice', true), typing('room', 'alice', false)]);

    vi.advanceTimersByTime(5000);
    expect(bob.sent).toHaveLength(2);
  });

  it('setTyping(false) for a member that is not typing broadcasts nothing', () => {
    const { hub, bob } = room();
    hub.setTyping('room', 'alice', false);
    expect(bob.sent).toEqual([]);
  });

  it('typing after it cleared is announced again', () => {
    const { hub, bob } = room(1000);
    hub.setTyping('room', 'alice', true);
    vi.advanceTimersByTime(1000);
    hub.setTyping('room', 'alice', true);
    expect(bob.of(ChannelEvents.Typing)).toEqual([
      { channel: 'room', memberId: 'alice', typing: true },
      { channel: 'room', memberId: 'alice', typing: false },
      { channel: 'room', memberId: 'alice', typing: true },
    ]);
  });

  it('typingMembers lists every member typing', () => {
    const { hub } = room();
    expect(hub.typingMembers('room')).toEqual([]);
    hub.setTyping('room', 'alice', true);
    hub.setTyping('room', 'bob', true);
    expect(hub.typingMembers('room').sort()).toEqual(['alice', 'bob']);
    hub.setTyping('room', 'bob', false);
    expect(hub.typingMembers('room')).toEqual(['alice']);
    expect(hub.typingMembers('nowhere')).toEqual([]);
  });

  it('ignores typing from a member that is not present', () => {
    const { hub, alice, bob } = room();
    hub.setTyping('room', 'carol', true);
    hub.setTyping('nowhere', 'alice', true);
    expect(hub.typingMembers('room')).toEqual([]);
    expect(alice.sent).toEqual([]);
    expect(bob.sent).toEqual([]);
  });

  it('leaving clears typing, and others hear typing: false before the leave', () => {
    const { hub, alice, alice2, bob } = room(1000);
    hub.setTyping('room', 'alice', true);
    bob.clear();

    // One of two connections goes: still present, still typing.
    hub.leave('room', 'alice', alice);
    expect(hub.typingMembers('room')).toEqual(['alice']);
    expect(bob.sent).toEqual([]);

    hub.leave('room', 'alice', alice2);
    expect(hub.typingMembers('room')).toEqual([]);
    expect(bob.sent).toEqual([typing('room', 'alice', false), leave('room', 'alice')]);

    // The cleared timer does not fire a second typing: false.
    vi.advanceTimersByTime(5000);
    expect(bob.sent).toHaveLength(2);
  });

  it('disconnect clears typing too', () => {
    const { hub, alice, alice2, bob } = room(1000);
    hub.setTyping('room', 'alice', true);
    bob.clear();
    hub.disconnect(alice);
    hub.disconnect(alice2);
    expect(hub.typingMembers('room')).toEqual([]);
    expect(bob.sent).toEqual([typing('room', 'alice', false), leave('room', 'alice')]);
    vi.advanceTimersByTime(5000);
    expect(bob.sent).toHaveLength(2);
  });
});

describe('ChannelHub: validation', () => {
  const badChannels = [
    { label: 'empty', channel: '' },
    { label: 'leading dot', channel: '.a' },
    { label: 'empty segment', channel: 'a..b' },
    { label: '256 characters', channel: 'a'.repeat(256) },
    { label: 'non-ASCII', channel: 'café' },
  ];
  const badMembers = [
    { label: 'empty', memberId: '' },
    { label: 'with a space', memberId: 'a b' },
    { label: '200 characters', memberId: 'm'.repeat(200) },
  ];

  it.each(badChannels)('refuses a channel name ($label) with code 40001', ({ channel }) => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    for (const call of [
      () => hub.join(channel, 'alice', a),
      () => hub.leave(channel, 'alice', a),
      () => hub.publish(channel, 'chat', 'hi'),
      () => hub.setTyping(channel, 'alice', true),
    ]) {
      const err = caught(call);
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code: 40001 });
    }
    expect(hub.channelNames()).toEqual([]);
  });

  it.each(badMembers)('refuses a member id ($label) with code 40001', ({ memberId }) => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const b = fakeConnection('b');
    hub.join('room', 'bob', b);
    for (const call of [
      () => hub.join('room', memberId, a),
      () => hub.leave('room', memberId, a),
      () => hub.setTyping('room', memberId, true),
    ]) {
      const err = caught(call);
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code: 40001 });
    }
    expect(hub.presence('room')).toEqual(['bob']);
    expect(hub.connectionCount('room')).toBe(1);
    expect(b.sent).toEqual([]);
  });

  it('accepts names at the limits', () => {
    const hub = new ChannelHub();
    const a = fakeConnection('a');
    const longest = 'a'.repeat(255);
    const longestMember = 'm'.repeat(128);
    expect(hub.join(longest, longestMember, a)).toEqual({ newlyPresent: true });
    expect(hub.join('chat.rooms.42', 'user@example.com', a)).toEqual({ newlyPresent: true });
    expect(hub.join('chat:room-1', 'x', a)).toEqual({ newlyPresent: true });
    expect(hub.isPresent(longest, longestMember)).toBe(true);
  });
});
