import type { PresenceMessage } from '../../src/index.js';
import type { MockWebSocket } from './mock-websocket.js';

export interface Member {
  clientId: string;
  connectionId: string;
  data?: unknown;
}

export type PresenceAction = 'enter' | 'update' | 'leave';

export function presEvt(channel: string, action: PresenceAction, member: Member, pseq: number | undefined) {
  return {
    t: 'presEvt',
    channel,
    action,
    clientId: member.clientId,
    connectionId: member.connectionId,
    ...(member.data === undefined ? {} : { data: member.data }),
    timestamp: 1_700_000_000_000 + (pseq ?? 0),
    ...(pseq === undefined ? {} : { pseq }),
  };
}

/** Answer the latest `presSub` for `channel` on `socket` with a snapshot. */
export function ackPresSub(socket: MockWebSocket, channel: string, members: Member[], pseq: number): void {
  const presSub = socket.framesOf('presSub').filter((f) => f.channel === channel).at(-1);
  if (!presSub) throw new Error(`no presSub for ${channel} on this socket`);
  socket.ack(presSub.id, { members, pseq });
}

/** Ack every `sub` on the socket not yet acked (presence tests do not care about messages). */
export function ackSubs(socket: MockWebSocket, acked = new Set<number>()): Set<number> {
  for (const sub of socket.framesOf('sub')) {
    if (acked.has(sub.id!)) continue;
    acked.add(sub.id!);
    socket.ack(sub.id, { seq: 0, epoch: 'E' });
  }
  return acked;
}

/** A member list in a stable order, with only what identifies a member and its data. */
export function normalize(list: Array<PresenceMessage | Member>): Member[] {
  return list
    .map((m) => ({ clientId: m.clientId, connectionId: m.connectionId!, ...(m.data === undefined ? {} : { data: m.data }) }))
    .sort((a, b) => `${a.clientId}/${a.connectionId}`.localeCompare(`${b.clientId}/${b.connectionId}`));
}

/** Replay presence listener events onto a map: what an app that keeps its own list from events would show. */
export class EventView {
  readonly log: PresenceMessage[] = [];
  private readonly map = new Map<string, Member>();

  readonly listener = (m: PresenceMessage): void => {
    this.log.push(m);
    const key = `${m.clientId}/${m.connectionId}`;
    if (m.action === 'leave') this.map.delete(key);
    else this.map.set(key, { clientId: m.clientId, connectionId: m.connectionId!, ...(m.data === undefined ? {} : { data: m.data }) });
  };

  members(): Member[] {
    return normalize([...this.map.values()]);
  }

  actions(): string[] {
    return this.log.map((m) => `${m.action}:${m.clientId}`);
  }

  clear(): void {
    this.log.length = 0;
  }
}
