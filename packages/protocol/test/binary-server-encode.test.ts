/** Server frames and bundles encoded on the server (src/binary/server-encode.ts). */
import { describe, expect, it } from 'vitest';
import { decodeServerRecords, encodeMessageBundle, encodeServerFrame } from '../src/binary/index.js';
import { FrameError } from '../src/codec.js';
import type { MessageFrame, ServerFrame } from '../src/frames.js';
import { bytes, field, hexOf, only, record, serverExamples } from './binary-examples.js';

describe('zero means absent', () => {
  it('server frames: absent seq/clientId/encoding/data/id are written as zero and read back as absent', () => {
    const msg: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: undefined, messageId: 'm', timestamp: 0 };
    const encoded = encodeServerFrame(msg);
    // 0d | count 1 | flags 0 | ts 0 | "c" | "n" | data "" | "m" | clientId "" | encoding "" | seq 0
    expect(hexOf(encoded)).toBe(hexOf(record(0x0d, 0x01, 0x00, 0x00, ...field('c'), ...field('n'), 0x00, ...field('m'), 0x00, 0x00, 0x00)));
    expect(only(decodeServerRecords(encoded))).toStrictEqual(msg);

    const evt = only(decodeServerRecords(encodeServerFrame({ t: 'presEvt', channel: 'c', action: 'leave', clientId: 'a', connectionId: 'x', timestamp: 1 })));
    expect(evt).toStrictEqual({ t: 'presEvt', channel: 'c', action: 'leave', clientId: 'a', connectionId: 'x', timestamp: 1 });

    expect(only(decodeServerRecords(encodeServerFrame({ t: 'histRes', id: 1, channel: 'c', messages: [] })))).toStrictEqual({
      t: 'histRes',
      id: 1,
      channel: 'c',
      messages: [],
    });
  });
});

describe('encodeServerFrame: fields and frames without a binary form', () => {
  it('drops ack.epoch/duplicate/members, connected.expiresAt, err.channel', () => {
    expect(hexOf(encodeServerFrame({ t: 'ack', id: 4, seq: 42, duplicate: true, epoch: 'e1', members: [] }))).toBe('04 0c 00 04 2a');
    expect(hexOf(encodeServerFrame({ t: 'ack', id: 5, seq: 7, resumed: true, epoch: 'e' }))).toBe('04 0c 03 05 07');
    expect(encodeServerFrame({ t: 'connected', connectionId: 'c-7Qx', keepAliveMs: 15000, clientId: 'alice', expiresAt: 1 })).toEqual(
      bytes(serverExamples[0].hex),
    );
    expect(hexOf(encodeServerFrame({ t: 'err', id: 3, code: 40301, message: 'no publish', channel: 'chat:1' }))).toBe(
      serverExamples.find((e) => e.name === 'err, request-scoped')!.hex,
    );
    expect(hexOf(encodeServerFrame({ t: 'pong', id: 9 }))).toBe('01 10');
  });

  it("presence 'present' goes out as enter", () => {
    const frame = JSON.parse(serverExamples.find((e) => e.name === 'presEvt enter')!.input) as ServerFrame;
    const present = { ...frame, action: 'present' } as unknown as ServerFrame;
    expect(hexOf(encodeServerFrame(present))).toBe(hexOf(encodeServerFrame(frame)));
  });

  it('presence update is action 3', () => {
    const encoded = encodeServerFrame({ t: 'presEvt', channel: 'c', action: 'update', clientId: 'a', connectionId: 'x', timestamp: 0, data: 1, encoding: 'e' });
    expect(encoded[2]).toBe(3);
    expect(only(decodeServerRecords(encoded))).toEqual({ t: 'presEvt', channel: 'c', action: 'update', clientId: 'a', connectionId: 'x', timestamp: 0, data: 1, encoding: 'e' });
  });

  it('an ephemeral batch sets both flag bits', () => {
    const frame: MessageFrame = { t: 'msg', channel: 'c', name: '', data: null, messageId: 'b', timestamp: 5, clientId: 'a', ephemeral: true, messages: [{ name: 'x', data: 1 }] };
    const encoded = encodeServerFrame(frame);
    expect(hexOf(encoded.subarray(0, 4))).toBe(`${hexOf(encoded.subarray(0, 1))} 0d 01 03`);
    expect(only(decodeServerRecords(encoded))).toEqual({ ...frame, data: undefined });
  });

  it('an empty messages array is a single message', () => {
    const frame: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: 1, messageId: 'm', timestamp: 5, messages: [] };
    expect(encodeServerFrame(frame)[3]).toBe(0);
  });

  it('evt has no binary form: throws a plain Error', () => {
    const evt: ServerFrame = { t: 'evt', event: { id: '1', topic: 't', source: 'socket', type: 'x', payload: null, metadata: { timestamp: 0 } } };
    expect(() => encodeServerFrame(evt)).toThrow(Error);
    expect(() => encodeServerFrame(evt)).not.toThrow(FrameError);
  });

  it('encodeMessageBundle refuses an empty bundle and a foreign channel', () => {
    const m: MessageFrame = { t: 'msg', channel: 'a', name: 'n', data: 1, messageId: 'm', timestamp: 1 };
    expect(() => encodeMessageBundle('a', [])).toThrow();
    expect(() => encodeMessageBundle('b', [m])).toThrow(/"a"/);
    expect(hexOf(encodeMessageBundle('a', [m]))).toBe(hexOf(encodeServerFrame(m)));
  });

  it('a bundle keeps each member’s flags', () => {
    const a: MessageFrame = { t: 'msg', channel: 'c', name: 'typing', data: true, messageId: 'e1', timestamp: 1, clientId: 'x', ephemeral: true };
    const b: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: { v: [1, 'two', null] }, messageId: 'm', timestamp: 2, clientId: 'y', seq: 9, encoding: 'enc' };
    expect(decodeServerRecords(encodeMessageBundle('c', [a, b]))).toEqual([a, b]);
  });

  it('histRes and fetchRes write the response channel into every member', () => {
    const m: MessageFrame = { t: 'msg', channel: 'c', name: 'n', data: 1, messageId: 'm', timestamp: 1, seq: 1 };
    const res = only(decodeServerRecords(encodeServerFrame({ t: 'fetchRes', id: 2, channel: 'c', messages: [m, { ...m, seq: 2 }], resumed: false })));
    expect(res).toEqual({ t: 'fetchRes', id: 2, channel: 'c', messages: [m, { ...m, seq: 2 }], resumed: false });
  });
});
