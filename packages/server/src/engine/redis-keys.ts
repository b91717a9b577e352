/**
 * Where the Redis engine keeps things. Keys of one channel share a hash tag (`{channelKey}`), so a
 * Redis Cluster keeps them on one shard and its scripts may touch them all.
 */

export const DEFAULT_REDIS_PREFIX = 'hubbub';

/** One channel's keys. */
export interface ChannelKeys {
  seq: string;
  epoch: string;
  history: string;
  /** The start of the channel's dedup records: scope and message id follow. */
  dedup: string;
  presence: string;
  presenceSerial: string;
  pubsub: string;
}

export class RedisKeys {
  constructor(readonly prefix: string) {}

  channel(channelKey: string): ChannelKeys {
    const base = `${this.prefix}:{${channelKey}}`;
    return {
      seq: `${base}:seq`,
      epoch: `${base}:epoch`,
      history: `${base}:hist`,
      dedup: `${base}:dedup:`,
      presence: `${base}:pres`,
      presenceSerial: `${base}:pseq`,
      pubsub: `${base}:ps`,
    };
  }

  /** The channel key a pub/sub channel carries, undefined for one that is not a channel's. */
  channelKeyOf(pubsubChannel: string): string | undefined {
    const m = /^[^{]*\{(.*)\}:ps$/.exec(pubsubChannel);
    return m?.[1];
  }

  /** A node's heartbeat: it expires when the node stops beating. */
  node(nodeId: string): string {
    return `${this.prefix}:node:${nodeId}`;
  }

  /** The heartbeat keys of every node, as a KEYS pattern. */
  allNodes(): string {
    return `${this.prefix}:node:*`;
  }

  /** The node id a heartbeat key names. */
  nodeIdOf(nodeKey: string): string {
    return nodeKey.slice(`${this.prefix}:node:`.length);
  }

  /** The set of channels that may hold presence, for the reaper to visit. */
  presenceIndex(): string {
    return `${this.prefix}:presence-channels`;
  }

  /** Held by the one node reaping dead nodes' presence at a time. */
  reaperLock(): string {
    return `${this.prefix}:reaper`;
  }
}

/** A presence hold's field in the channel's hash: which connection, through which node. */
export function presenceField(clientId: string, nodeId: string, connectionId: string): string {
  return `${clientId}|${nodeId}|${connectionId}`;
}

export function presenceFieldParts(field: string): { clientId: string; nodeId: string; connectionId: string } {
  const [clientId, nodeId, connectionId] = field.split('|');
  return { clientId, nodeId, connectionId };
}
