/** Client frames encoded as the Foony SDK sends them (src/binary/client-encode.ts). */
import { describe, expect, it } from 'vitest';
import { encodeClientFrame } from '../src/binary/index.js';
import { clientExamples, hexOf } from './binary-examples.js';

describe('encodeClientFrame: frames and fields without a binary form', () => {
  it('drops auth.echo, sub.epoch and ping ids', () => {
    expect(hexOf(encodeClientFrame({ t: 'auth', token: 'aaa.bbb.ccc', echo: false }))).toBe(clientExamples[0].hex);
    expect(hexOf(encodeClientFrame({ t: 'sub', id: 1, channel: 'chat:1', epoch: 'e1' }))).toBe(clientExamples[3].hex);
    expect(hexOf(encodeClientFrame({ t: 'ping', id: 7 }))).toBe('01 0a');
    expect(hexOf(encodeClientFrame({ t: 'hist', id: 11, channel: 'chat:1', direction: 'backwards' }))).toBe(clientExamples[14].hex);
  });

  it('throws for tsub, tunsub, dm and hist forwards', () => {
    expect(() => encodeClientFrame({ t: 'tsub', id: 1, sid: 's', topic: 't' })).toThrow();
    expect(() => encodeClientFrame({ t: 'tunsub', id: 1, sid: 's' })).toThrow();
    expect(() => encodeClientFrame({ t: 'dm', id: 1, to: 'bob', name: 'n' })).toThrow();
    expect(() => encodeClientFrame({ t: 'hist', id: 1, channel: 'c', direction: 'forwards' })).toThrow();
  });
});
