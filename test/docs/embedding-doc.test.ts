/**
 * docs/embedding.md's `ChannelHub` sample, saved in the clone and run with node as it is (it needs no
 * server: its connections are fakes that print what they are sent).
 */
import { describe, it } from 'vitest';
import { runnableBlock } from './support/markdown.js';
import { expectSampleRuns } from './support/samples.js';

describe('docs/embedding.md', () => {
  it('runs the ChannelHub sample and it prints what it says', async () => {
    await expectSampleRuns(runnableBlock('channel-hub-sample'), 0);
  });
});
