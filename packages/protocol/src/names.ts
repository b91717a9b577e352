import { ErrorCode, HubbubError } from './errors.js';

/** Channel names: dots express hierarchy (`chat.rooms.42`), `:` a namespace (`chat:room-1`). */
const CHANNEL_NAME = /^[A-Za-z0-9_:-](?:[A-Za-z0-9._:-]{0,253}[A-Za-z0-9_:-])?$/;
/** Client ids and app ids: printable, no separators that could forge another key. */
const CLIENT_ID = /^[A-Za-z0-9._:@+-]{1,128}$/;
const APP_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const MAX_CHANNEL_NAME_LENGTH = 255;
export const MAX_MESSAGE_ID_LENGTH = 128;

/**
 * A UTF-16 surrogate without its other half. Stored or compared as UTF-8 it becomes U+FFFD, so two
 * different ids holding one would be the same id: a publish would be acked as a duplicate it is not.
 * (No lookbehind: older browsers cannot parse it.)
 */
const LONE_SURROGATE = /(?:^|[^\ud800-\udbff])[\udc00-\udfff]|[\ud800-\udbff](?![\udc00-\udfff])/;

/** Message ids (the dedup id): 1-128 UTF-16 code units of well-formed text. */
export function isValidMessageId(id: unknown): id is string {
  return typeof id === 'string' && id.length >= 1 && id.length <= MAX_MESSAGE_ID_LENGTH && !LONE_SURROGATE.test(id);
}

export const MESSAGE_ID_RULE = `1-${MAX_MESSAGE_ID_LENGTH} UTF-16 code units of well-formed text`;

export function isValidChannelName(name: unknown): name is string {
  // Empty hierarchy segments (`a..b`) are refused: a dot always separates two names.
  return typeof name === 'string' && CHANNEL_NAME.test(name) && !name.includes('..');
}

export function assertChannelName(name: unknown): asserts name is string {
  if (!isValidChannelName(name)) {
    throw new HubbubError(
      ErrorCode.BadFrame,
      `invalid channel name ${describe(name)}: use 1-255 of [A-Za-z0-9._:-], not starting or ending with "." and without ".."`,
    );
  }
}

export function isValidClientId(id: unknown): id is string {
  return typeof id === 'string' && CLIENT_ID.test(id);
}

export function assertClientId(id: unknown, what = 'client id'): asserts id is string {
  if (!isValidClientId(id)) {
    throw new HubbubError(ErrorCode.BadFrame, `invalid ${what} ${describe(id)}: use 1-128 of [A-Za-z0-9._:@+-]`);
  }
}

export function isValidAppId(id: unknown): id is string {
  return typeof id === 'string' && APP_ID.test(id);
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return `(${typeof value})`;
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
