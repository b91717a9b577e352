/**
 * Client side (tests, Node clients), outbound: client frames as the length-prefixed client → server
 * records the Foony SDK sends (layouts: docs/internal/foony-wire-notes.md §2.4).
 */

import type { ClientFrame } from '../frames.js';
import { writeBatchMembers } from './members.js';
import { AUTH_VERSION, BinaryOpcode as Op, FLAG_EPHEMERAL, presenceActionByte } from './opcodes.js';
import { encodeRecord } from './writer.js';

/**
 * One client frame as one length-prefixed record (what the Foony SDK sends). Fields without a binary
 * slot (`auth.echo`, `sub.epoch`, ping ids) are dropped; a batch publish carries the SDK's top-level
 * `""`/`null`/`""`. Throws for frames with no binary form (`tsub`, `tunsub`, `dm`) and for
 * `hist` with `direction: 'forwards'` (binary history is always backwards).
 */
export function encodeClientFrame(frame: ClientFrame): Uint8Array {
  switch (frame.t) {
    case 'auth':
      return encodeRecord((w) => {
        w.u8(Op.Auth);
        w.u8(AUTH_VERSION);
        w.str(frame.token ?? '');
        w.str(frame.key ?? '');
        w.str(frame.clientId ?? '');
        w.str(frame.resumeConnectionId ?? '');
      });
    case 'sub':
      return encodeRecord((w) => {
        w.u8(Op.Sub);
        w.uvarint(frame.id);
        w.uvarint(frame.lastSerial ?? 0);
        w.str(frame.channel);
      });
    case 'unsub':
    case 'presSub':
    case 'presUnsub': {
      const op = frame.t === 'unsub' ? Op.Unsub : frame.t === 'presSub' ? Op.PresSub : Op.PresUnsub;
      return encodeRecord((w) => {
        w.u8(op);
        w.uvarint(frame.id);
        w.str(frame.channel);
      });
    }
    case 'pub':
      return encodeRecord((w) => {
        const batch = frame.messages !== undefined && frame.messages.length > 0;
        w.u8(Op.Pub);
        w.u8(frame.ephemeral ? FLAG_EPHEMERAL : 0);
        w.uvarint(frame.id);
        w.str(frame.channel);
        if (batch) {
          w.u8(0); // name ""
          w.str('null'); // data null
          w.u8(0); // encoding ""
        } else {
          w.str(frame.name);
          w.json(frame.data);
          w.str(frame.encoding ?? '');
        }
        w.str(frame.messageId);
        w.u8(0); // reserved
        writeBatchMembers(w, batch ? frame.messages! : []);
      });
    case 'pres':
      return encodeRecord((w) => {
        w.u8(Op.Pres);
        w.u8(presenceActionByte(frame.action));
        w.uvarint(frame.id);
        w.str(frame.channel);
        w.json(frame.data);
        w.str(frame.encoding ?? '');
      });
    case 'hist':
      if (frame.direction === 'forwards') throw new Error('binary codec: hist has no forwards direction');
      return encodeRecord((w) => {
        w.u8(Op.Hist);
        w.uvarint(frame.id);
        w.uvarint(frame.limit ?? 0);
        w.str(frame.channel);
        w.uvarint(frame.before ?? 0);
      });
    case 'fetch':
      return encodeRecord((w) => {
        w.u8(Op.Fetch);
        w.uvarint(frame.id);
        w.uvarint(frame.fromSerial);
        w.str(frame.channel);
      });
    case 'ping':
      return encodeRecord((w) => w.u8(Op.Ping));
    default:
      throw new Error(`binary codec: client frame "${frame.t}" has no binary form`);
  }
}
