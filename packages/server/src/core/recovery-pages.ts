import { ErrorCode, HubbubError } from '@hubbub/protocol';
import type { Engine, Recovery } from './engine.js';

/**
 * A catch-up read from the engine a page of at most `maxBytes` at a time, so a resume that never reads
 * holds one page in memory, not the channel's whole history. The first page says whether the cursor
 * resumed and in which epoch; each later one goes on from the last serial sent. Should history move
 * under the catch-up (aged out past it, or reset), the catch-up stops with 50300: resuming again from
 * what was received gets the gap reported as it should be.
 */
export async function* recoveryPages(engine: Engine, channelKey: string, fromSerial: number, epoch: string | undefined, maxBytes: number): AsyncGenerator<Recovery> {
  const first = await engine.recover(channelKey, fromSerial, epoch, maxBytes);
  yield first;
  let page = first;
  while (page.more && page.messages.length > 0) {
    page = await engine.recover(channelKey, page.messages.at(-1)!.seq!, first.epoch, maxBytes);
    if (!page.resumed || page.epoch !== first.epoch) {
      throw new HubbubError(ErrorCode.Unavailable, 'the channel history changed during the catch-up: resume again from the last message received');
    }
    yield page;
  }
}
