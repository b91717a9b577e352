/**
 * The binary opcode codec (the wire format of Foony's `@foony/realtime` SDK), mapped onto the same
 * frame objects as the JSON codec in `codec.ts`. Layouts: docs/internal/foony-wire-notes.md §2–3.
 *
 * A binary WebSocket message (or long-poll body) is a run of records, each `uvarint(length) || record`;
 * a record is a one-byte opcode (`BinaryOpcode`) and that opcode's fields. Field types:
 *   uvarint  LEB128, at most 2^53-1
 *   str      uvarint byte length + UTF-8; empty = absent for optional strings
 *   json     uvarint byte length + JSON text; zero length = undefined
 * Optional numbers (`lastSerial`, `limit`, `before`, `seq`) travel as 0 when absent.
 *
 * One module per direction, like `ws`'s receiver and sender:
 *   server side  client-decode.ts  `decodeClientRecords`, `startsWithAuthRecord`
 *                server-encode.ts  `encodeServerFrame`, `encodeMessageBundle`, `messageRecordMember`, `bundleHead`
 *   client side  client-encode.ts  `encodeClientFrame` (tests, Node clients)
 *                server-decode.ts  `decodeServerRecords`
 * over opcodes.ts (every number of the format), reader.ts / writer.ts (field types) and members.ts
 * (the message layouts several records share).
 */

export { BinaryOpcode } from './opcodes.js';
export { MAX_BINARY_BATCH, decodeClientRecords, startsWithAuthRecord } from './client-decode.js';
export { bundleHead, encodeMessageBundle, encodeServerFrame, messageRecordMember } from './server-encode.js';
export { encodeClientFrame } from './client-encode.js';
export { decodeServerRecords } from './server-decode.js';
