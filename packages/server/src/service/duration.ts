import { ErrorCode, HubbubError } from '@hubbub/protocol';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** How a duration is written, for messages. */
export const DURATION_FORM = 'a duration such as 500ms, 30s, 15m, 1h or 7d (a bare number is seconds)';

/** `90`, `"90"` (seconds), `"1500ms"`, `"30s"`, `"15m"`, `"1h"`, `"7d"` → milliseconds; undefined when it is none of these. */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim()) : null;
  return match ? Math.round(Number(match[1]) * UNITS[match[2] ?? 's']) : undefined;
}

/** Like `durationMs`, but a value that is not a duration is a 40001 naming `what`. */
export function parseDuration(value: unknown, what = 'duration'): number {
  const ms = durationMs(value);
  if (ms === undefined) throw new HubbubError(ErrorCode.BadFrame, `${what} must be ${DURATION_FORM}, got ${JSON.stringify(value)}`);
  return ms;
}

/** 1500 → "1.5s", 60000 → "1m": the shortest exact spelling, for messages. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNITS[unit] && ms % (UNITS[unit] / 10) === 0) return `${ms / UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
