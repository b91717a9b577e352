import { FrameError, decodeClientRecords, encodeServerFrame, startsWithAuthRecord } from '@hubbub/protocol';
import type { Dialect } from '../../core/dialect.js';
import { RecordBatch } from './record-batch.js';

/**
 * Foony's binary dialect (docs/internal/foony-wire-notes.md): length-prefixed records, several per
 * message, in the shape `@foony/realtime` sends and expects, and the rules its SDK lives by.
 */
export const foonyBinary: Dialect = {
  name: 'foony',
  binary: true,
  claims: (first) => typeof first !== 'string',
  decode(data, maxFrames) {
    if (typeof data === 'string') return [new FrameError('text frame on a binary connection: send binary records')];
    return decodeClientRecords(data, maxFrames);
  },
  looksLikeAuth: (data) => typeof data !== 'string' && startsWithAuthRecord(data),
  encode: (frame) => encodeServerFrame(frame),
  // Platform events (topics) have no record: a Foony connection is never sent one.
  encodeShared: (out) => (out.frame.t === 'evt' ? undefined : encodeServerFrame(out.frame)),
  batch: () => new RecordBatch(foonyBinary),
  policy: {
    // Every connection is its own member in Foony's SDK.
    presenceView: 'connection',
    // The SDK never renews in-band: it reconnects with a fresh token.
    renewal: 'reconnect',
    // It resumes its connection id after a drop and expects its presence kept meanwhile.
    resumesPresence: true,
    // `suspend()` closes with 1000 "client suspend" and resumes later.
    suspendReason: 'client suspend',
    // It has no separate presence detach: unsubscribing ends the watch and the membership.
    unsubscribeLeavesPresence: true,
    directMessages: false,
    // It resends a publish forever when its connection is closed for it: refuse the request instead.
    refusesOversizedPerRequest: true,
    // Its restore of a subscription after a reconnect is never retried when refused: make it reconnect.
    reconnectsWhenUnavailable: true,
  },
};
