import { pino, type Logger } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * JSON logs (pino) for machines; when a person watches a terminal, one readable line per entry.
 * Fields that could carry secrets are redacted wherever they appear.
 */
export function createLogger(level: string, pretty = Boolean(process.stdout.isTTY)): Logger {
  const options = {
    level,
    redact: { paths: ['token', 'key', 'secret', 'password', '*.token', '*.key', '*.secret', '*.password', 'authorization', '*.authorization'], censor: '[redacted]' },
  };
  if (!pretty) return pino(options);
  return pino(options, {
    write(line: string) {
      const { level: n, time, msg, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>;
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      process.stdout.write(`${new Date(time as number).toISOString().slice(11, 23)} ${(LEVELS[n as number] ?? n).toString().padEnd(5)} ${msg}${extra}\n`);
    },
  });
}
