/**
 * What each side sees of an event's data, on a real `hubbub serve`: a Pusher client always gets JSON
 * text of the stored value (so pusher-js reads back exactly what Hubbub's SDK published, a string
 * '42' included), and Hubbub's SDK gets a Pusher backend's JSON text parsed, other text as it is.
 * docs/compat-pusher.md ("What each side sees of data") is the table these cases check.
 */
import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '@hubbub/client';
import { client as hubbub, closeClients } from '../../support/clients.js';
import { PusherClients, RawPusher, backend, nextEvent, startPusherServer, subscribed, until, type PusherApp } from '../../support/pusher.js';
import { cleanup, type RunningServer } from '../../support/server.js';

let server: RunningServer;
let app: PusherApp;
const clients = new PusherClients();

beforeAll(async () => {
  ({ server, app } = await startPusherServer());
});
afterAll(() => cleanup(server));
afterEach(() => {
  clients.closeAll();
  closeClients();
});

/** Every `event` a pusher-js subscriber of `channel` and a bare socket get, and what Hubbub's SDK gets, from now on. */
async function watchers(channel: string, event: string) {
  const pusher = clients.make(app, server.port);
  const sub = await subscribed(pusher, channel);
  const parsed: unknown[] = [];
  sub.bind(event, (d: unknown) => parsed.push(d));
  const raw = await RawPusher.open(server.port, `/app/${app.key}?protocol=7`);
  await raw.socketId();
  raw.send('pusher:subscribe', { channel });
  await raw.next((e) => e.event === 'pusher_internal:subscription_succeeded', 'raw subscribed');
  const rt = hubbub(server.url, { key: app.hubbubKey, clientId: 'reader' });
  const sdk: unknown[] = [];
  const ch = rt.channels.get(channel);
  ch.on(event, (m: Message) => sdk.push(m.data));
  await ch.attach();
  const rawData = () => raw.received.filter((e) => e.event === event).map((e) => e.data);
  return { parsed, rawData, sdk, close: () => raw.close() };
}

describe('Hubbub SDK publishes reach Pusher clients as JSON text of the value', () => {
  it("the string '42' stays a string; numbers, objects and true stay what they are", async () => {
    const w = await watchers('fidelity-sdk', 'v');
    const values: unknown[] = ['42', '{"a":1}', 'true', 'plain', '', 7, { a: 1 }, true, null];
    const ch = hubbub(server.url, { key: app.hubbubKey }).channels.get('fidelity-sdk');
    for (const value of values) await ch.publish('v', value);
    await until(() => w.parsed.length === values.length && w.rawData().length === values.length, 'every event');
    expect(w.parsed).toEqual(values);
    expect(w.rawData()).toEqual(values.map((v) => JSON.stringify(v)));
    w.close();
  });
});

describe('Pusher HTTP API triggers', () => {
  it('JSON text is stored parsed (Hubbub SDK gets the value) and reaches pusher-js as Pusher would give it; other text stays text', async () => {
    const w = await watchers('fidelity-http', 'e');
    // What the `pusher` SDK is given; it sends a string as it is and anything else as JSON text.
    const sent: unknown[] = [{ a: 1 }, 'plain', '42', '{"a":1}', '"quoted"', 42, true, ''];
    const pusher = backend(app, server.port);
    for (const d of sent) await pusher.trigger('fidelity-http', 'e', d);
    await until(() => w.parsed.length === sent.length && w.sdk.length === sent.length, 'every event');
    // pusher-js parses what it can, as against Pusher.
    expect(w.parsed).toEqual([{ a: 1 }, 'plain', 42, { a: 1 }, 'quoted', 42, true, '']);
    expect(w.sdk).toEqual([{ a: 1 }, 'plain', 42, { a: 1 }, 'quoted', 42, true, '']);
    // A client reading data raw gets JSON text: text that was not JSON comes quoted.
    expect(w.rawData()).toEqual(['{"a":1}', '"plain"', '42', '{"a":1}', '"quoted"', '42', 'true', '""']);
    w.close();
  });

  it('a private-encrypted- payload triggered by the `pusher` SDK is decrypted by pusher-js', async () => {
    const pusher = clients.make(app, server.port, { signer: backend(app, server.port) });
    const channel = await subscribed(pusher, 'private-encrypted-http');
    const got = nextEvent(channel, 'sealed');
    await backend(app, server.port).trigger('private-encrypted-http', 'sealed', { gold: 4 });
    expect((await got).data).toEqual({ gold: 4 });
  });
});

describe('client events', () => {
  it('reach pusher-js as sent and Hubbub SDK parsed like an HTTP trigger', async () => {
    const signer = backend(app, server.port);
    const a = clients.make(app, server.port, { signer });
    const b = clients.make(app, server.port, { signer });
    const aCh = await subscribed(a, 'private-fidelity');
    const bCh = await subscribed(b, 'private-fidelity');
    const got: unknown[] = [];
    bCh.bind('client-v', (d: unknown) => got.push(d));
    const sdk: unknown[] = [];
    const sdkCh = hubbub(server.url, { key: app.hubbubKey }).channels.get('private-fidelity');
    sdkCh.on('client-v', (m: Message) => sdk.push(m.data));
    await sdkCh.attach();
    const sent: unknown[] = [{ x: 1 }, 'str', '42', 5];
    for (const d of sent) aCh.trigger('client-v', d);
    await until(() => got.length === sent.length && sdk.length === sent.length, 'every client event');
    // pusher-js sends text as a JSON string; a Pusher receiver parses '42' to 42 against Pusher too.
    expect(got).toEqual([{ x: 1 }, 'str', 42, 5]);
    expect(sdk).toEqual([{ x: 1 }, 'str', 42, 5]);
  });
});
