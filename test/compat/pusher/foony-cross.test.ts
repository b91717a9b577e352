/**
 * The fourth protocol of the channel space: Foony's published SDK (binary records) and Pusher's
 * clients on the same channels of one `hubbub serve`, both ways: a pusher-js client event and a
 * `pusher` SDK trigger reach a Foony subscriber with the event name as the message name, and a Foony
 * publish reaches pusher-js as an event.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as foony from 'foony-realtime-0.16';
import { PusherClients, backend, nextEvent, startPusherServer, subscribed, until, type PusherApp } from '../../support/pusher.js';
import { cleanup, type RunningServer } from '../../support/server.js';

const clients = new PusherClients();
const realtimes: foony.Realtime[] = [];
afterEach(() => {
  clients.closeAll();
  for (const rt of realtimes.splice(0)) rt.close();
});

describe('Pusher clients and the Foony SDK on one channel', () => {
  let server: RunningServer;
  let app: PusherApp;
  beforeAll(async () => {
    ({ server, app } = await startPusherServer());
  });
  afterAll(() => cleanup(server));

  function foonyClient(clientId: string): foony.Realtime {
    const rt = new foony.Realtime({ endpoint: `ws://127.0.0.1:${server.port}`, key: app.hubbubKey, clientId, transport: 'websocket' });
    realtimes.push(rt);
    return rt;
  }

  it('a pusher-js client event and a pusher SDK trigger reach a Foony subscriber', async () => {
    const got: Array<{ name?: string; data: unknown }> = [];
    const channel = foonyClient('watcher').channels.get('private-floor');
    channel.subscribe((m) => got.push({ name: m.name, data: m.data }));
    await channel.attach();

    const pusher = clients.make(app, server.port, { signer: backend(app, server.port) });
    const floor = await subscribed(pusher, 'private-floor');
    floor.trigger('client-wave', { hand: 'left' });
    await backend(app, server.port).trigger('private-floor', 'announce', { text: 'doors open' });

    await until(() => got.length === 2, 'both events at the Foony subscriber');
    expect(got).toEqual([
      { name: 'client-wave', data: { hand: 'left' } },
      { name: 'announce', data: { text: 'doors open' } },
    ]);
  });

  it('a Foony publish reaches pusher-js as an event of that name', async () => {
    const pusher = clients.make(app, server.port);
    const news = await subscribed(pusher, 'news');
    const event = nextEvent<{ headline: string }>(news, 'breaking');
    await foonyClient('editor').channels.get('news').publish('breaking', { headline: 'tea at four' });
    expect((await event).data).toEqual({ headline: 'tea at four' });
  });
});
