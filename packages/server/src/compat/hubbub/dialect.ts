import { FrameError, decodeClientFrame, type ClientFrame } from '@hubbub/protocol';
import type { Dialect } from '../../core/dialect.js';

/** Hubbub's own dialect (docs/protocol.md): one JSON frame per text message. */
export const hubbubJson: Dialect = {
  name: 'hubbub',
  binary: false,
  claims: (first) => typeof first === 'string',
  decode(data) {
    if (typeof data !== 'string') return [new FrameError('binary frame on a JSON connection: send text frames')];
    return [decodeOne(data)];
  },
  looksLikeAuth: (data) => typeof data === 'string' && /^\s*\{\s*"t"\s*:\s*"auth"/.test(data.slice(0, 64)),
  encode: (frame) => JSON.stringify(frame),
  encodeShared: (out) => JSON.stringify(out.frame),
  policy: {
    presenceView: 'client',
    renewal: 'frame',
    // The SDK re-enters its presence after a reconnect itself, by choice.
    resumesPresence: false,
    unsubscribeLeavesPresence: false,
    directMessages: true,
    // The transport closes a text message past its limit (1009); the SDK refuses one before sending.
    refusesOversizedPerRequest: false,
    reconnectsWhenUnavailable: false,
  },
};

function decodeOne(text: string): ClientFrame | FrameError {
  try {
    return decodeClientFrame(text);
  } catch (err) {
    return err instanceof FrameError ? err : new FrameError('frame could not be read');
  }
}
