import type { PresenceAction, PresenceMember } from '@hubbub/protocol';
import { clientView } from './presence-views.js';

/** One connection's hold on a member: what it entered with. */
interface Hold {
  data: unknown;
  encoding?: string;
  /** When this connection last entered or updated, Unix ms. */
  at: number;
}

interface Member {
  /** Connections holding this member, in order of entry; the last one speaks for the member. */
  holds: Map<string, Hold>;
}

/**
 * Presence of one channel: members keyed by client id, reference-counted by connection.
 * A client on two devices is one member; it leaves when its last connection lets go, so a
 * connection that replaces another (connect, then drop the old one) causes no flicker.
 */
export class ChannelPresence {
  private readonly members = new Map<string, Member>();

  /** Enter or update through one connection. Returns the event others should see, if any (see `clientView`). */
  enter(clientId: string, connectionId: string, data?: unknown, encoding?: string, at = Date.now()): PresenceAction | null {
    const before = this.member(clientId);
    const member = this.members.get(clientId);
    if (!member) this.members.set(clientId, { holds: new Map([[connectionId, { data, encoding, at }]]) });
    else {
      // Entered again, the hold moves last: it speaks for the member.
      member.holds.delete(connectionId);
      member.holds.set(connectionId, { data, encoding, at });
    }
    return clientView({ before, after: this.member(clientId) })?.action ?? null;
  }

  /** Release one connection's hold. 'leave' when it was the last; 'update' when the visible data changed. */
  leave(clientId: string, connectionId: string): PresenceAction | null {
    const member = this.members.get(clientId);
    if (!member || !member.holds.has(connectionId)) return null;
    const before = this.member(clientId);
    member.holds.delete(connectionId);
    if (member.holds.size === 0) this.members.delete(clientId);
    return clientView({ before, after: this.member(clientId) })?.action ?? null;
  }

  has(clientId: string): boolean {
    return this.members.has(clientId);
  }

  holds(clientId: string, connectionId: string): boolean {
    return this.members.get(clientId)?.holds.has(connectionId) ?? false;
  }

  /** One connection's own member (clientId, connectionId and what it entered with). */
  holder(clientId: string, connectionId: string): PresenceMember | undefined {
    const hold = this.members.get(clientId)?.holds.get(connectionId);
    return hold ? memberOf(clientId, connectionId, hold) : undefined;
  }

  /** Every connection's own member, with when it last entered or updated. */
  holders(): Array<PresenceMember & { timestamp: number }> {
    const out: Array<PresenceMember & { timestamp: number }> = [];
    for (const [clientId, member] of this.members) {
      for (const [connectionId, hold] of member.holds) out.push({ ...memberOf(clientId, connectionId, hold), timestamp: hold.at });
    }
    return out;
  }

  /** The member as others see it: its latest connection's data. */
  member(clientId: string): PresenceMember | undefined {
    const member = this.members.get(clientId);
    return member ? view(clientId, member) : undefined;
  }

  list(): PresenceMember[] {
    return [...this.members].map(([clientId, member]) => view(clientId, member));
  }

  /** `list()`, each member with when its latest connection entered or updated. */
  snapshot(): Array<PresenceMember & { timestamp: number }> {
    return [...this.members].map(([clientId, member]) => ({ ...view(clientId, member), timestamp: latest(member).at }));
  }

  get size(): number {
    return this.members.size;
  }

  get connectionCount(): number {
    let n = 0;
    for (const m of this.members.values()) n += m.holds.size;
    return n;
  }
}

function latest(member: Member): Hold & { connectionId: string } {
  let last: [string, Hold] | undefined;
  for (const entry of member.holds) last = entry;
  const [connectionId, hold] = last!;
  return { connectionId, ...hold };
}

function view(clientId: string, member: Member): PresenceMember {
  const { connectionId, ...hold } = latest(member);
  return memberOf(clientId, connectionId, hold);
}

function memberOf(clientId: string, connectionId: string, { data, encoding }: Hold): PresenceMember {
  const out: PresenceMember = { clientId, connectionId };
  if (data !== undefined) out.data = data;
  if (encoding !== undefined) out.encoding = encoding;
  return out;
}
