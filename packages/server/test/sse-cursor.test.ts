import { describe, expect, it } from 'vitest';
import { MAX_CURSOR_LENGTH, MAX_SSE_CHANNELS, StreamCursor, parseCursor } from '../src/transport/sse-cursor.js';

/** A cursor over `channels` at the given positions, as the text an `id:` line carries. */
function cursorText(channels: string[], positions: Array<[number, string]>): string {
  const cursor = new StreamCursor(channels);
  positions.forEach(([seq, epoch], i) => cursor.set(i, { seq, epoch }));
  return cursor.text;
}

describe('the SSE stream cursor', () => {
  it('resumes every channel of the stream from one id', () => {
    const text = cursorText(['chat:a', 'chat:b', 'news'], [[12, 'ep1'], [0, 'ep2'], [7, 'node.3']]);
    const again = new StreamCursor(['chat:a', 'chat:b', 'news']);
    expect(again.resumeFrom(parseCursor(text))).toEqual([
      { seq: 12, epoch: 'ep1' },
      { seq: 0, epoch: 'ep2' },
      { seq: 7, epoch: 'node.3' },
    ]);
  });

  it('finds each channel by name whatever the order, and leaves channels it does not name to start fresh', () => {
    const text = cursorText(['a', 'b'], [[3, 'x'], [4, 'y']]);
    const other = new StreamCursor(['c', 'b', 'a']);
    expect(other.resumeFrom(parseCursor(text))).toEqual([undefined, { seq: 4, epoch: 'y' }, { seq: 3, epoch: 'x' }]);
  });

  it('nothing to resume from: every channel starts fresh', () => {
    expect(new StreamCursor(['a', 'b']).resumeFrom(undefined)).toEqual([undefined, undefined]);
  });

  it('advancing one channel changes only its part of the id', () => {
    const cursor = new StreamCursor(['a', 'b']);
    cursor.set(0, { seq: 1, epoch: 'x' });
    cursor.set(1, { seq: 1, epoch: 'y' });
    const before = cursor.text;
    cursor.advance(1, 2);
    expect(cursor.text).not.toBe(before);
    expect(new StreamCursor(['a', 'b']).resumeFrom(parseCursor(cursor.text))).toEqual([
      { seq: 1, epoch: 'x' },
      { seq: 2, epoch: 'y' },
    ]);
    expect(cursor.position(1)).toEqual({ seq: 2, epoch: 'y' });
  });

  it('keeps any epoch, including separators and non-ASCII, and stays one line of ASCII', () => {
    const epochs = ['a,b', 'c:d', 'é三', '%41', 'with space'];
    const channels = epochs.map((_, i) => `ch${i}`);
    const text = cursorText(channels, epochs.map((e, i) => [i, e]));
    expect(text).toMatch(/^[\x21-\x7e]+$/);
    expect(new StreamCursor(channels).resumeFrom(parseCursor(text))).toEqual(epochs.map((epoch, seq) => ({ seq, epoch })));
  });

  it(`stays under ${MAX_CURSOR_LENGTH} characters for ${MAX_SSE_CHANNELS} channels of the longest names at the largest serials`, () => {
    const channels = Array.from({ length: MAX_SSE_CHANNELS }, (_, i) => `${String(i).padStart(3, '0')}${'x'.repeat(252)}`);
    // Engine epochs: 8 random characters (memory), or a node id, a dot and a counter (Redis).
    const text = cursorText(channels, channels.map(() => [Number.MAX_SAFE_INTEGER, 'AbCdEfGh.zzzzzzzzzz']));
    expect(text.length).toBeLessThanOrEqual(3 * 1024);
    expect(new StreamCursor(channels).resumeFrom(parseCursor(text)).every((p) => p?.seq === Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it('is about 30 bytes a channel for everyday names and serials', () => {
    const text = cursorText(['chat:lobby', 'news'], [[1234, 'q8Zx1LkP'], [56, 'AbCdEfGh.1a']]);
    expect(text.length).toBeLessThan(70);
  });

  it('reads anything that is not a cursor of its own as no cursor at all', () => {
    const good = cursorText(['a'], [[5, 'e']]);
    const tag = good.split(',')[1].split(':')[0];
    const bad = [
      '',
      'garbage',
      '3',
      '-1',
      'v1',
      'v1,',
      'v2' + good.slice(2),
      `${good},`,
      `${good} `,
      `v1,${tag}:-1:e`,
      `v1,${tag}:01:e`,
      `v1,${tag}:1.5:e`,
      `v1,${tag}:1e3:e`,
      `v1,${tag}:9007199254740992:e`,
      `v1,${tag}:99999999999999999999:e`,
      `v1,${tag}:5:`,
      `v1,${tag}:5`,
      `v1,${tag}:5:e:f`,
      `v1,${tag}:5:%E0%A4%A`,
      `v1,${tag}:5:${'e'.repeat(200)}`,
      `v1,short:5:e`,
      `v1,${tag}:5:e,${tag}:6:e`,
      `v1,${Array.from({ length: MAX_SSE_CHANNELS + 1 }, (_, i) => `${String(i).padStart(8, 'A')}:1:e`).join(',')}`,
      'v1,' + 'A'.repeat(MAX_CURSOR_LENGTH),
      '__proto__',
      '{"a":[1,"e"]}',
      '三',
    ];
    for (const text of bad) expect(parseCursor(text), JSON.stringify(text.slice(0, 80))).toBeUndefined();
    expect(parseCursor(good)).toBeDefined();
  });
});
