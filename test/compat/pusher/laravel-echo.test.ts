/**
 * Laravel Echo 2 (`broadcaster: 'pusher'`, pusher-js's Node build) against a real `hubbub serve`, with
 * a stand-in Laravel backend: `/broadcasting/auth` signing with the `pusher` SDK's `authorizeChannel`,
 * and broadcasts triggered through the SDK as Laravel's PusherBroadcaster triggers them.
 */
import Echo from 'laravel-echo';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runnableBlock } from '../../docs/support/markdown.js';
import { expectSampleRuns } from '../../docs/support/samples.js';
import { EchoClients, LaravelBackend, EchoPusherOption, echoConnected, echoSubscribed, pusherOf, type LaravelUser } from '../../support/laravel-echo.js';
import { backend, startPusherServer, until, type PusherApp } from '../../support/pusher.js';
import { cleanup, type RunningServer } from '../../support/server.js';

let server: RunningServer;
let app: PusherApp;
let laravel: LaravelBackend;
const echoes = new EchoClients();

const USERS: Record<string, LaravelUser> = {
  'alice-token': { id: 1, name: 'Alice' },
  'bob-token': { id: 2, name: 'Bob' },
};

beforeAll(async () => {
  ({ server, app } = await startPusherServer());
  laravel = await LaravelBackend.start(backend(app, server.port), USERS, (channel, user) => {
    if (channel === 'private-admin') return false;
    return channel.startsWith('presence-') ? { id: user.id, name: user.name } : true;
  });
});
afterAll(async () => {
  await laravel?.close();
  await cleanup(server);
});
afterEach(() => echoes.closeAll());

/** What Laravel's PusherBroadcaster sends: the payload as JSON, `socket_id` when the broadcast is `toOthers()`. */
function broadcast(channels: string[], event: string, payload: Record<string, unknown>, socketId?: string) {
  return backend(app, server.port).trigger(channels, event, payload, socketId ? { socket_id: socketId } : undefined);
}

describe('public channels', () => {
  it('Echo.channel().listen(".shipped") gets an event with broadcastAs() "shipped"', async () => {
    const echo = echoes.make(app, server.port, laravel);
    const got = new Promise<unknown>((resolve) => echo.channel('orders').listen('.shipped', resolve));
    await echoSubscribed(echo.channel('orders'));
    await broadcast(['orders'], 'shipped', { order: { id: 7 } });
    expect(await got).toEqual({ order: { id: 7 } });
  });

  it('Echo.channel().listen("OrderShipped") gets the class-named event App\\Events\\OrderShipped', async () => {
    const echo = echoes.make(app, server.port, laravel);
    const got = new Promise<unknown>((resolve) => echo.channel('orders').listen('OrderShipped', resolve));
    await echoSubscribed(echo.channel('orders'));
    await broadcast(['orders', 'orders.7'], 'App\\Events\\OrderShipped', { id: 7 });
    expect(await got).toEqual({ id: 7 });
  });

  it('a broadcast toOthers() (socket_id from Echo.socketId()) skips the sender’s own connection', async () => {
    const sender = echoes.make(app, server.port, laravel);
    const other = echoes.make(app, server.port, laravel);
    const senderGot: unknown[] = [];
    sender.channel('orders').listen('.shipped', (e: unknown) => senderGot.push(e));
    const otherGot: unknown[] = [];
    other.channel('orders').listen('.shipped', (e: unknown) => otherGot.push(e));
    await Promise.all([echoSubscribed(sender.channel('orders')), echoSubscribed(other.channel('orders'))]);
    await broadcast(['orders'], 'shipped', { n: 1 }, await echoConnected(sender));
    await broadcast(['orders'], 'shipped', { n: 2 });
    await until(() => otherGot.length === 2 && senderGot.length === 1, 'both broadcasts at the other, the second at the sender');
    expect(senderGot).toEqual([{ n: 2 }]);
  });

  it('Echo.leave() unsubscribes: no more events, and the channel is empty', async () => {
    const echo = echoes.make(app, server.port, laravel);
    const orders: unknown[] = [];
    echo.channel('orders').listen('.shipped', (e: unknown) => orders.push(e));
    const markers: unknown[] = [];
    echo.channel('marker').listen('.tick', (e: unknown) => markers.push(e));
    await Promise.all([echoSubscribed(echo.channel('orders')), echoSubscribed(echo.channel('marker'))]);
    echo.leave('orders');
    expect(pusherOf(echo).channel('orders')).toBeUndefined();
    const sdk = backend(app, server.port);
    await until(async () => ((await (await sdk.get({ path: '/channels/orders' })).json()) as { occupied: boolean }).occupied === false, 'orders empty');
    await broadcast(['orders'], 'shipped', { late: true });
    await broadcast(['marker'], 'tick', {});
    await until(() => markers.length === 1, 'the marker after the late event');
    expect(orders).toEqual([]);
  });
});

describe('private channels', () => {
  it('whisper reaches another client’s listenForWhisper, never the sender', async () => {
    const alice = echoes.make(app, server.port, laravel, 'alice-token');
    const bob = echoes.make(app, server.port, laravel, 'bob-token');
    const aliceHeard: unknown[] = [];
    alice.private('chat').listenForWhisper('typing', (e: unknown) => aliceHeard.push(e));
    const bobHeard = new Promise<unknown>((resolve) => bob.private('chat').listenForWhisper('typing', resolve));
    await Promise.all([echoSubscribed(alice.private('chat')), echoSubscribed(bob.private('chat'))]);
    alice.private('chat').whisper('typing', { name: 'Alice' });
    expect(await bobHeard).toEqual({ name: 'Alice' });
    // Bob answers; once Alice has that, her own whisper would have come before it.
    const reply = new Promise<unknown>((resolve) => alice.private('chat').listenForWhisper('stopped', resolve));
    bob.private('chat').whisper('stopped', { name: 'Bob' });
    expect(await reply).toEqual({ name: 'Bob' });
    expect(aliceHeard).toEqual([]);
    expect(laravel.auths.filter((a) => a.channel === 'private-chat').map((a) => a.user).sort()).toEqual(['alice-token', 'bob-token']);
  });

  it('Echo.private().listen() gets a broadcast on PrivateChannel("chat")', async () => {
    const alice = echoes.make(app, server.port, laravel, 'alice-token');
    const got = new Promise<unknown>((resolve) => alice.private('chat').listen('MessageSent', resolve));
    await echoSubscribed(alice.private('chat'));
    await broadcast(['private-chat'], 'App\\Events\\MessageSent', { text: 'hi' });
    expect(await got).toEqual({ text: 'hi' });
  });

  it('a custom authorizer (Laravel’s documented override) signing with authorizeChannel', async () => {
    const signer = backend(app, server.port);
    type Callback = (error: Error | null, auth: { auth: string } | null) => void;
    const authorizer = (channel: { name: string }) => ({
      authorize: (socketId: string, callback: Callback) => callback(null, signer.authorizeChannel(socketId, channel.name)),
    });
    const a = echoes.make(app, server.port, laravel, undefined, { authorizer });
    const b = echoes.make(app, server.port, laravel, undefined, { authorizer });
    const heard = new Promise<unknown>((resolve) => b.private('orders.7').listenForWhisper('seen', resolve));
    await Promise.all([echoSubscribed(a.private('orders.7')), echoSubscribed(b.private('orders.7'))]);
    a.private('orders.7').whisper('seen', { by: 'a' });
    expect(await heard).toEqual({ by: 'a' });
    expect(laravel.auths.some((x) => x.channel === 'private-orders.7')).toBe(false);
  });

  it('a channel the backend refuses (403) is an Echo .error(), and a guest is refused too', async () => {
    const alice = echoes.make(app, server.port, laravel, 'alice-token');
    await expect(echoSubscribed(alice.private('admin'))).rejects.toMatchObject({ detail: { status: 403 } });
    const guest = echoes.make(app, server.port, laravel);
    await expect(echoSubscribed(guest.private('chat'))).rejects.toMatchObject({ detail: { status: 403 } });
  });
});

describe('presence channels', () => {
  it('Echo.join().here/joining/leaving with two users; Echo.leave() is leaving for the other', async () => {
    const alice = echoes.make(app, server.port, laravel, 'alice-token');
    const joined: unknown[] = [];
    const left: unknown[] = [];
    const aliceHere = new Promise<unknown[]>((resolve) =>
      alice
        .join('room')
        .here(resolve)
        .joining((u: unknown) => joined.push(u))
        .leaving((u: unknown) => left.push(u)),
    );
    expect(await aliceHere).toEqual([{ id: 1, name: 'Alice' }]);

    const bob = echoes.make(app, server.port, laravel, 'bob-token');
    const bobHere = new Promise<unknown[]>((resolve) => bob.join('room').here(resolve));
    const here = (await bobHere) as LaravelUser[];
    expect([...here].sort((a, b) => a.id - b.id)).toEqual([
      { id: 1, name: 'Alice' },
      { id: 2, name: 'Bob' },
    ]);
    await until(() => joined.length === 1, 'joining Bob');
    expect(joined).toEqual([{ id: 2, name: 'Bob' }]);

    // Bob whispers on the presence channel; Alice's whisper listener gets it.
    const whisper = new Promise<unknown>((resolve) => alice.join('room').listenForWhisper('typing', resolve));
    bob.join('room').whisper('typing', { id: 2 });
    expect(await whisper).toEqual({ id: 2 });

    bob.leave('room');
    await until(() => left.length === 1, 'leaving Bob');
    expect(left).toEqual([{ id: 2, name: 'Bob' }]);
    expect(pusherOf(bob).connection.state).toBe('connected');
  });

  it('a user who disconnects is leaving for the others', async () => {
    const alice = echoes.make(app, server.port, laravel, 'alice-token');
    const left: unknown[] = [];
    const joined: unknown[] = [];
    await new Promise((resolve) =>
      alice
        .join('lobby')
        .here(resolve)
        .joining((u: unknown) => joined.push(u))
        .leaving((u: unknown) => left.push(u)),
    );
    const bob = echoes.make(app, server.port, laravel, 'bob-token');
    await new Promise((resolve) => bob.join('lobby').here(resolve));
    await until(() => joined.length === 1, 'joining Bob');
    bob.disconnect();
    await until(() => left.length === 1, 'leaving Bob');
    expect(left).toEqual([{ id: 2, name: 'Bob' }]);
  });
});

describe('as a Reverb app configures Echo', () => {
  it('broadcaster: "reverb" (Echo’s Pusher connector without a cluster) listens the same way', async () => {
    const echo = new Echo({
      broadcaster: 'reverb',
      Pusher: EchoPusherOption,
      key: app.key,
      wsHost: '127.0.0.1',
      wsPort: server.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      authEndpoint: `${laravel.url}/broadcasting/auth`,
      auth: { headers: { Authorization: 'Bearer alice-token' } },
    });
    try {
      const got = new Promise<unknown>((resolve) => echo.private('chat').listen('.sent', resolve));
      await echoSubscribed(echo.private('chat'));
      await broadcast(['private-chat'], 'sent', { via: 'reverb config' });
      expect(await got).toEqual({ via: 'reverb config' });
    } finally {
      echo.disconnect();
    }
  });
});

describe('docs/compat-pusher.md', () => {
  it('runs the Laravel Echo sample as written (pusher-echo-node)', async () => {
    await expectSampleRuns(runnableBlock('pusher-echo-node'), server.port, { PUSHER_APP_ID: app.appId, PUSHER_APP_KEY: app.key, PUSHER_APP_SECRET: app.secret });
  });
});
