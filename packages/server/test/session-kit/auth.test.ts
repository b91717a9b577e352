import { describe, expect, it } from 'vitest';
import { startKit } from './kit.js';

/** docs/protocol.md, "send `auth` first", and the renewal paragraph below it. */
describe('authentication', () => {
  it('closes with 4001 when no auth frame comes within the auth timeout, not a millisecond before', async () => {
    const kit = await startKit();
    const silent = kit.open();
    await kit.advance(kit.limits.authTimeoutMs - 1);
    expect(silent.closes).toEqual([]);
    await kit.advance(1);
    expect(silent.closes).toEqual([4001]);
    expect(silent.frames).toEqual([]);
  });

  it('leaves an authenticated connection open past the auth timeout', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada' });
    await kit.advance(kit.limits.authTimeoutMs * 2);
    await ada.sync();
    expect(ada.closes).toEqual([]);
  });

  it.each([
    ['another frame', JSON.stringify({ t: 'sub', id: 1, channel: 'chat' })],
    ['text that is no frame', 'hello'],
  ])('answers %s before auth with err, then closes with 4002', async (_, first) => {
    const kit = await startKit();
    const eager = kit.open();
    eager.sendRaw(first);
    expect(await eager.closed()).toBe(4002);
    // The wire drops what is sent after its close: the err frame went out first.
    expect(eager.frames.map((f) => f.t)).toEqual(['err']);
  });

  it('refuses unknown credentials with 40101, then closes with 4101', async () => {
    const kit = await startKit();
    const stranger = kit.open();
    stranger.send({ t: 'auth', token: 'not-a-token' });
    expect(await stranger.closed()).toBe(4101);
    expect(stranger.frames).toMatchObject([{ t: 'err', code: 40101 }]);
  });

  it('refuses a token that has already expired with 40102, then closes with 4102', async () => {
    const kit = await startKit();
    const token = kit.token({ clientId: 'ada', ttlMs: 1_000 });
    await kit.advance(1_000);
    const late = kit.open();
    late.send({ t: 'auth', token });
    expect(await late.closed()).toBe(4102);
    expect(late.frames).toMatchObject([{ t: 'err', code: 40102 }]);
  });
});

describe('token expiry on a live connection', () => {
  const ttlMs = 20_000;

  it('sends 40102 exactly when the token runs out, then closes with 4102 after the grace period', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada', ttlMs });
    expect(ada.frames[0]).toMatchObject({ t: 'connected', clientId: 'ada', expiresAt: Date.now() + ttlMs });
    await kit.advance(ttlMs - 1);
    await ada.sync();
    expect(ada.all('err')).toEqual([]);
    await kit.advance(1);
    expect(await ada.next({ t: 'err' })).toMatchObject({ code: 40102 });
    await kit.advance(kit.limits.authGraceMs - 1);
    expect(ada.closes).toEqual([]);
    await kit.advance(1);
    expect(ada.closes).toEqual([4102]);
  });

  it('stays open when a fresh auth frame comes within the grace period: same connection id, new expiry', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada', ttlMs });
    const connectionId = ada.connectionId;
    await kit.advance(ttlMs);
    expect(await ada.next({ t: 'err' })).toMatchObject({ code: 40102 });
    await kit.advance(kit.limits.authGraceMs - 1);
    const renewed = await ada.renew(kit.token({ clientId: 'ada', ttlMs: 60_000 }));
    expect(renewed).toMatchObject({ t: 'connected', connectionId, expiresAt: Date.now() + 60_000 });
    await kit.advance(kit.limits.authGraceMs);
    expect(ada.closes).toEqual([]);
    expect(await ada.publish('chat', 'still here')).toMatchObject({ t: 'ack', seq: 1 });
  });

  it('keeps the connection after a refused renewal, until its current token runs out', async () => {
    const kit = await startKit();
    const ada = await kit.connect({ clientId: 'ada', ttlMs });
    expect(await ada.renew('not-a-token')).toMatchObject({ t: 'err', code: 40101 });
    expect(await ada.renew(kit.token({ clientId: 'bob', ttlMs: 60_000 }))).toMatchObject({ t: 'err', code: 40101 });
    await ada.sync();
    expect(ada.closes).toEqual([]);
    await kit.advance(ttlMs + kit.limits.authGraceMs);
    expect(ada.closes).toEqual([4102]);
  });
});
