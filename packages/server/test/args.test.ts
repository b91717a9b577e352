import { describe, expect, it } from 'vitest';
import { UsageError, helpText, parseArgs, type OptionSpec } from '../src/cli/args.js';

const SPECS: OptionSpec[] = [
  { name: 'port', env: 'PORT', type: 'number', default: 3000, help: 'Port to listen on' },
  { name: 'host', env: 'HOST', type: 'string', default: '0.0.0.0', help: 'Interface' },
  { name: 'app', env: 'HUBBUB_APP', type: 'string', help: 'App id' },
  { name: 'client', type: 'string', help: 'Client id' },
  { name: 'metrics', env: 'HUBBUB_METRICS', type: 'boolean', default: true, help: 'Expose /metrics' },
  { name: 'verbose', type: 'boolean', help: 'Say more' },
  { name: 'allowed-origins', env: 'HUBBUB_ALLOWED_ORIGINS', type: 'list', value: 'LIST', help: 'Origins' },
];

/** Parse with an empty environment unless one is given, so the machine's PORT never leaks in. */
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseArgs(argv, SPECS, env);

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('parseArgs', () => {
  it('--port 3000 and --port=3000 give the number', () => {
    expect(parse(['--port', '4000']).values.port).toBe(4000);
    expect(parse(['--port=4000']).values.port).toBe(4000);
  });

  it('accepts the single-dash spelling', () => {
    const { values } = parse(['-app', 'foony', '-client', 'alice']);
    expect(values.app).toBe('foony');
    expect(values.client).toBe('alice');
    expect(parse(['-port=81']).values.port).toBe(81);
  });

  it('keeps an inline value verbatim, including "=" and an empty string', () => {
    expect(parse(['--host=a=b']).values.host).toBe('a=b');
    expect(parse(['--app=']).values.app).toBe('');
  });

  it('a value may start with a dash when it is inline', () => {
    expect(parse(['--client=-alice']).values.client).toBe('-alice');
  });

  it('booleans: bare flag, --no-x, and =true/=false', () => {
    expect(parse(['--verbose']).values.verbose).toBe(true);
    expect(parse(['--no-metrics']).values.metrics).toBe(false);
    expect(parse(['--metrics=false']).values.metrics).toBe(false);
    expect(parse(['--verbose=true']).values.verbose).toBe(true);
  });

  it('a boolean flag does not swallow the next argument', () => {
    const { values, positionals } = parse(['--verbose', 'serve']);
    expect(values.verbose).toBe(true);
    expect(positionals).toEqual(['serve']);
  });

  it('the last occurrence wins', () => {
    expect(parse(['--port', '1', '--port', '2']).values.port).toBe(2);
    expect(parse(['--metrics', '--no-metrics']).values.metrics).toBe(false);
  });

  it('collects positionals, and everything after --', () => {
    const { values, positionals } = parse(['create', '--app', 'foony', 'extra', '--', '--port', '9']);
    expect(positionals).toEqual(['create', 'extra', '--port', '9']);
    expect(values.app).toBe('foony');
    expect(values.port).toBe(3000);
  });

  it('falls back to the environment twin, then to the default', () => {
    expect(parse([], { PORT: '8080' }).values.port).toBe(8080);
    expect(parse([]).values.port).toBe(3000);
    expect(parse(['--port', '9090'], { PORT: '8080' }).values.port).toBe(9090);
    expect(parse([], { HOST: '127.0.0.1' }).values.host).toBe('127.0.0.1');
    expect(parse([], { HUBBUB_APP: 'foony' }).values.app).toBe('foony');
  });

  it('reads booleans from the environment as true/1', () => {
    expect(parse([], { HUBBUB_METRICS: 'false' }).values.metrics).toBe(false);
    expect(parse([], { HUBBUB_METRICS: '0' }).values.metrics).toBe(false);
    expect(parse([], { HUBBUB_METRICS: '1' }).values.metrics).toBe(true);
    expect(parse([], { HUBBUB_METRICS: 'true' }).values.metrics).toBe(true);
    expect(parse([]).values.metrics).toBe(true);
  });

  it('leaves an option with no value, env or default undefined', () => {
    const { values } = parse([]);
    expect(values.app).toBeUndefined();
    expect(values.verbose).toBeUndefined();
    expect(values['allowed-origins']).toBeUndefined();
    expect(Object.keys(values).sort()).toEqual(SPECS.map((s) => s.name).sort());
  });

  it('list options split on commas, trimming blanks', () => {
    expect(parse(['--allowed-origins', 'https://a.example, https://b.example,,']).values['allowed-origins']).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
    expect(parse([], { HUBBUB_ALLOWED_ORIGINS: 'x' }).values['allowed-origins']).toEqual(['x']);
  });

  it('an unknown option is a UsageError naming it', () => {
    expect(usageError(() => parse(['--prot', '3000'])).message).toContain('--prot');
    expect(usageError(() => parse(['-x'])).message).toContain('-x');
  });

  it('--no-x only exists for booleans', () => {
    usageError(() => parse(['--no-port']));
    usageError(() => parse(['--no-such']));
  });

  it('a missing value is a UsageError', () => {
    expect(usageError(() => parse(['--port'])).message).toContain('--port');
    usageError(() => parse(['--app', 'foony', '-client']));
  });

  it.each([['abc'], ['3000abc'], [''], [' ']])('a non-number %j for a number option is a UsageError', (value) => {
    expect(usageError(() => parse(['--port', value])).message).toMatch(/--port must be a number/);
  });

  it('number coercion errors apply to the environment twin too', () => {
    usageError(() => parse([], { PORT: 'eighty' }));
  });

  it('accepts decimal and zero numbers', () => {
    expect(parse(['--port', '0']).values.port).toBe(0);
    expect(parse(['--port=1.5']).values.port).toBe(1.5);
  });
});

describe('helpText', () => {
  const text = helpText('hubbub serve [options]', 'Run the server.', SPECS);

  it('starts with usage and summary', () => {
    expect(text.startsWith('Usage: hubbub serve [options]\n\nRun the server.\n\nOptions:\n')).toBe(true);
  });

  it('lists every option with its placeholder, env twin and default', () => {
    const line = (flag: string) => text.split('\n').find((l) => l.trimStart().startsWith(flag + ' '))!;
    expect(line('--port NUMBER')).toContain('Port to listen on (env PORT, default 3000)');
    expect(line('--allowed-origins LIST')).toContain('Origins (env HUBBUB_ALLOWED_ORIGINS)');
    expect(line('--client STRING')).toMatch(/Client id$/);
    expect(line('--metrics')).toContain('(env HUBBUB_METRICS, default true)');
    expect(line('--verbose')).toMatch(/Say more$/);
    expect(line('--help')).toContain('Show this help');
  });
});
