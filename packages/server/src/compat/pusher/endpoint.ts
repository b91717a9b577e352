import type { SessionContext } from '../../core/session-scope.js';
import type { Wire } from '../../core/wire.js';
import { JoinGate } from './join-gate.js';
import { PusherPinger } from './pinger.js';
import type { PusherKey } from './pusher-channels.js';
import { PusherSession } from './pusher-session.js';
import { PUSHER_PATH_PREFIX, PUSHER_PROTOCOL, PusherCode, pusherError } from './protocol.js';

export interface PusherEndpointOptions {
  session: SessionContext;
  /** The active key with this key id (a Pusher app key), with its secret; undefined when there is none. */
  findKey(keyId: string): PusherKey | undefined;
  activityTimeoutMs: number;
  /** Distinct members of one presence channel (default PUSHER_MAX_PRESENCE_MEMBERS). */
  maxPresenceMembers?: number;
}

/** What the WebSocket transport feeds a connection's messages to. */
export interface PusherPeer {
  receive(data: string | Buffer): void;
  dispose(): void;
}

/** A connection refused before it had a session: nothing it sends is read. */
const REFUSED: PusherPeer = { receive: () => undefined, dispose: () => undefined };

/** Is this upgrade for the Pusher endpoint, `/app/{key}`? */
export function isPusherPath(url: string | undefined): boolean {
  return (url ?? '').startsWith(PUSHER_PATH_PREFIX);
}

/**
 * The Pusher WebSocket endpoint, `/app/{key}?protocol=7`: the dialect is fixed by the path, and the key
 * in it is the credential (a Pusher app key is the key id of a Hubbub API key).
 */
export class PusherEndpoint {
  private readonly pinger: PusherPinger;
  private readonly presenceJoins = new JoinGate();

  constructor(private readonly options: PusherEndpointOptions) {
    this.pinger = new PusherPinger(options.activityTimeoutMs);
  }

  open(wire: Wire, url: string): PusherPeer {
    const parsed = new URL(url, 'http://pusher.invalid');
    const protocol = parsed.searchParams.get('protocol');
    if (protocol === null) return refuse(wire, PusherCode.NoProtocol, `no protocol version: connect with ?protocol=${PUSHER_PROTOCOL}`);
    if (!/^\d{1,3}$/.test(protocol)) return refuse(wire, PusherCode.InvalidVersion, 'the protocol version must be a number');
    if (Number(protocol) !== PUSHER_PROTOCOL) return refuse(wire, PusherCode.UnsupportedProtocol, `protocol ${protocol} is not supported: this server speaks ${PUSHER_PROTOCOL}`);
    const keyId = keyIdOf(parsed.pathname);
    const key = keyId === undefined ? undefined : this.options.findKey(keyId);
    if (!key) return refuse(wire, PusherCode.AppNotFound, 'no app has this key');
    const session = new PusherSession({ session: this.options.session, pinger: this.pinger, activityTimeoutMs: this.options.activityTimeoutMs, maxPresenceMembers: this.options.maxPresenceMembers, presenceJoins: this.presenceJoins }, wire, key);
    return session.open() ? session : REFUSED;
  }
}

function keyIdOf(pathname: string): string | undefined {
  const raw = pathname.slice(PUSHER_PATH_PREFIX.length);
  try {
    const keyId = decodeURIComponent(raw);
    return /^[A-Za-z0-9_-]{1,64}$/.test(keyId) ? keyId : undefined;
  } catch {
    // A malformed escape names no key.
    return undefined;
  }
}

/** Say why, then close with the same code (in its class: 4000–4099, the client does not retry). */
function refuse(wire: Wire, code: number, message: string): PusherPeer {
  wire.sendText(pusherError(code, message));
  wire.close(code, message);
  return REFUSED;
}
