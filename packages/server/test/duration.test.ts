import { describe, expect, it } from 'vitest';
import { HubbubError } from '@hubbub/protocol';
import { parseDuration } from '../src/service/duration.js';

describe('parseDuration', () => {
  it.each([
    ['1500ms', 1_500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['0s', 0],
    ['1.5s', 1_500],
    ['0.5m', 30_000],
    ['90', 90_000],
    [' 2m ', 120_000],
  ])('%j → %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('reads a plain number as seconds', () => {
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration(2.5)).toBe(2_500);
  });

  it('rounds to whole milliseconds', () => {
    expect(parseDuration('1.0004s')).toBe(1_000);
    expect(parseDuration('2.6ms')).toBe(3);
  });

  it.each([
    ['empty', ''],
    ['unit only', 's'],
    ['unknown unit', '5w'],
    ['upper-case unit', '1H'],
    ['negative text', '-5s'],
    ['two units', '1h30m'],
    ['space before the unit', '5 s'],
    ['words', 'soon'],
    ['negative number', -1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['undefined', undefined],
    ['object', { s: 1 }],
  ])('rejects %s with HubbubError 40001', (_label, value) => {
    let caught: unknown;
    try {
      parseDuration(value);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HubbubError);
    expect((caught as HubbubError).code).toBe(40001);
  });

  it('names what was being parsed and the bad value', () => {
    expect(() => parseDuration('soon', '--ttl')).toThrow(/--ttl must be .*"soon"/);
  });
});
