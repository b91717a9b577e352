import { describe, expect, it } from 'vitest';
import { UsageError, checkValue, helpText, parseArgs, type OptionSpec } from '../src/cli/args.js';

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

describe('one schema: ranges, enums, durations and list items, every problem at once', () => {
  const SCHEMA: OptionSpec[] = [
    { name: 'port', env: 'PORT', type: 'number', integer: true, min: 0, max: 65535, default: 3000, help: 'Port' },
    { name: 'log-level', env: 'LOG_LEVEL', type: 'string', choices: ['error', 'info', 'debug'], default: 'info', help: 'How much to log' },
    { name: 'history-limit', env: 'HISTORY_LIMIT', type: 'number', integer: true, min: 0, default: 100, help: 'Messages kept' },
    { name: 'heartbeat', env: 'HEARTBEAT', type: 'duration', min: 1, default: '15s', help: 'Heartbeat' },
    { name: 'verbose', env: 'VERBOSE', type: 'boolean', help: 'Say more' },
    {
      name: 'pairs',
      env: 'PAIRS',
      type: 'list',
      help: 'A=B pairs',
      check: (item) => (/^\w+=\w+$/.test(item) ? undefined : 'expected NAME=VALUE'),
    },
  ];
  const problems = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
    throw new Error('expected problems');
  };

  it('refuses a number out of range, a fraction where a whole number is needed, and names the flag', () => {
    expect(usageError(() => parseArgs(['--port', '70000'], SCHEMA, {})).message).toBe('--port: 70000 is out of range 0-65535');
    expect(usageError(() => parseArgs(['--port', '1.5'], SCHEMA, {})).message).toContain('--port: 1.5 is not a whole number');
    expect(usageError(() => parseArgs(['--history-limit=-5'], SCHEMA, {})).message).toContain('--history-limit: -5 is less than 0');
    expect(parseArgs(['--port', '65535'], SCHEMA, {}).values.port).toBe(65535);
  });

  it('reads a number as written in decimal, and a whole number only as one it can hold exactly', () => {
    for (const odd of ['0x10', '1e3', ' 5', '5 ', '+', '.']) {
      expect(usageError(() => parseArgs(['--history-limit', odd], SCHEMA, {})).message, JSON.stringify(odd)).toContain(`--history-limit must be a number written in decimal, got ${JSON.stringify(odd)}`);
    }
    for (const huge of ['9007199254740993', '99999999999999999999']) {
      expect(usageError(() => parseArgs(['--history-limit', huge], SCHEMA, {})).message).toContain('is more than the largest whole number a number here can hold (9007199254740991)');
    }
    expect(usageError(() => parseArgs([], SCHEMA, { HISTORY_LIMIT: '1e3' })).message).toContain('HISTORY_LIMIT');
    expect(parseArgs(['--history-limit', '+7'], SCHEMA, {}).values['history-limit']).toBe(7);
    expect(parseArgs(['--history-limit', '007'], SCHEMA, {}).values['history-limit']).toBe(7);
    // A JSON file's number is a number; the same exactness applies.
    expect(checkValue(SCHEMA[2]!, 1e300, false)).toMatchObject({ problem: expect.stringContaining('largest whole number') });
  });

  it('refuses a value outside an enum, listing the choices', () => {
    const message = usageError(() => parseArgs(['--log-level', 'loud'], SCHEMA, {})).message;
    expect(message).toContain('--log-level: "loud" is not one of error, info, debug');
  });

  it('checks durations (and their bounds) but hands them on as written', () => {
    expect(usageError(() => parseArgs(['--heartbeat', 'forever'], SCHEMA, {})).message).toMatch(/^--heartbeat must be a duration .*got "forever"/);
    expect(usageError(() => parseArgs(['--heartbeat', '0s'], SCHEMA, {})).message).toContain('--heartbeat: "0s" is less than 1ms');
    expect(parseArgs(['--heartbeat', '2m'], SCHEMA, {}).values.heartbeat).toBe('2m');
  });

  it('checks each item of a list', () => {
    expect(usageError(() => parseArgs(['--pairs', 'a=b,oops'], SCHEMA, {})).message).toBe('--pairs: item "oops": expected NAME=VALUE');
  });

  it('booleans from the environment must say true/false/1/0', () => {
    expect(usageError(() => parseArgs([], SCHEMA, { VERBOSE: 'yes please' })).message).toContain('VERBOSE must be true or false');
  });

  it('collects every problem of flags and environment at once', () => {
    const found = problems(() => parseArgs(['--port', '70000', '--log-level', 'loud'], SCHEMA, { HEARTBEAT: 'soon' }));
    expect(found).toHaveLength(3);
    expect(found.join('\n')).toMatch(/--port.*\n--log-level.*\nHEARTBEAT/);
  });

  it("checks every value of a config file, even ones a flag overrides, naming the file and the file's key", () => {
    const file = { path: 'conf.json', options: { port: 70000, 'log-level': 'loud', 'history-limit': -5, heartbeat: 'x', pairs: ['bad'] }, problems: ['conf.json: "prot" is not a key'] };
    let error: unknown;
    try {
      parseArgs(['--port', '4000'], SCHEMA, {}, file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(UsageError);
    expect((error as { problems: string[] }).problems).toEqual([
      'conf.json: "prot" is not a key',
      'conf.json: "port": 70000 is out of range 0-65535',
      'conf.json: "logLevel": "loud" is not one of error, info, debug',
      'conf.json: "historyLimit": -5 is less than 0',
      expect.stringMatching(/^conf\.json: "heartbeat" must be a duration/),
      'conf.json: "pairs": item "bad": expected NAME=VALUE',
    ]);
  });

  it('takes typed values from a file: numbers as numbers, lists as arrays or comma text, durations as seconds or text', () => {
    const file = { path: 'c.json', options: { port: 81, pairs: 'a=b, c=d', heartbeat: 20, verbose: true }, problems: [] };
    expect(parseArgs([], SCHEMA, {}, file).values).toMatchObject({ port: 81, pairs: ['a=b', 'c=d'], heartbeat: 20, verbose: true });
    expect(problems(() => parseArgs([], SCHEMA, {}, { path: 'c.json', options: { port: '81' }, problems: [] }))).toEqual([
      'c.json: "port" must be a number, got "81"',
    ]);
  });

  it('--help lists the choices of an enum', () => {
    const help = helpText('x', 'y', SCHEMA);
    expect(help).toMatch(/--log-level STRING +How much to log: error, info or debug \(env LOG_LEVEL, default info\)/);
  });
});
