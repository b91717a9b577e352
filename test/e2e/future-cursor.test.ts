/**
 * A resume cursor ahead of the channel's stream (forged, or held across a Redis failover that lost the
 * last writes and gave their serials out again) cannot be a clean resume: the server answers
 * `resumed: false`, so the SDK reports a discontinuity and takes the server's position, rather than
 * skipping every message up to its own serial. Found by an outside attack on docs/guarantees.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, devtoken, startServer, type RunningServer } from '../support/in-process.js';
import { RawClient } from '../support/clients.js';

let server: RunningServer;
let token: string;
beforeAll(async () => {
  server = await startServer();
  token = await devtoken('foony', 'alice');
});
afterAll(() => cleanup(server));

describe('a resume cursor past the end of the stream', () => {
  it('is answered resumed: false with the channel position; a cursor at the end is a clean resume', async () => {
    const raw = await RawClient.connect(server.url);
    await raw.auth(token);
    for (let i = 1; i <= 3; i++) {
      raw.send({ t: 'pub', id: i, channel: 'cursor', name: 'n', data: i, messageId: `m-${i}` });
      await raw.reply(i);
    }
    raw.send({ t: 'sub', id: 10, channel: 'cursor' });
    const { epoch } = (await raw.reply(10)) as { epoch: string };
    raw.send({ t: 'unsub', id: 11, channel: 'cursor' });
    await raw.reply(11);

    raw.send({ t: 'sub', id: 12, channel: 'cursor', lastSerial: 3, epoch });
    expect(await raw.reply(12)).toMatchObject({ t: 'ack', seq: 3, resumed: true });
    raw.send({ t: 'unsub', id: 13, channel: 'cursor' });
    await raw.reply(13);

    raw.send({ t: 'sub', id: 14, channel: 'cursor', lastSerial: 1000, epoch });
    expect(await raw.reply(14)).toMatchObject({ t: 'ack', seq: 3, resumed: false });
    raw.close();
  });
});
