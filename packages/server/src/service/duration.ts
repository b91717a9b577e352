import { ErrorCode, HubbubError } from '@hubbub/protocol';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90`, `"90"` (seconds), `"1500ms"`, `"30s"`, `"15m"`, `"1h"`, `"7d"` → milliseconds. */
export function parseDuration(value: unknown, what = 'duration'): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim()) : null;
  if (!match) {
    throw new HubbubError(ErrorCode.BadFrame, `${what} must be seconds or a number with ms, s, m, h or d (e.g. 1h), got ${JSON.stringify(value)}`);
  }
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 's']);
}
