import { camelCase, ConfigError, type ConfigFile } from '../service/config-file.js';
import { DURATION_FORM, durationMs, formatDuration } from '../service/duration.js';

/**
 * One command-line option, with its environment twin, its default and what values it takes: the
 * single source for parsing, --help and checking config files.
 */
export interface OptionSpec {
  name: string;
  env?: string;
  /** `duration` values are checked (`15s`, `2m`, a number of seconds) and handed on as written. */
  type: 'string' | 'number' | 'boolean' | 'list' | 'duration';
  default?: string | number | boolean;
  help: string;
  /** Placeholder shown in --help, e.g. URL. */
  value?: string;
  /** number: whole numbers only. */
  integer?: boolean;
  /** number, or duration in milliseconds: the smallest and largest values allowed. */
  min?: number;
  max?: number;
  /** string: the only values allowed (listed in --help). */
  choices?: readonly string[];
  /** string, or each item of a list: what is wrong with it, or undefined when it is fine. */
  check?: (value: string) => string | undefined;
}

/** Misuse of the command line: exit code 2. `problems` holds every problem found, one line each. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
  }
}

export type Value = string | number | boolean | string[];
export type Parsed = { values: Record<string, Value | undefined>; positionals: string[] };

/**
 * Parse `--name value`, `--name=value`, `-name value` (the single-dash spelling people type)
 * and `--no-name`; fall back to the environment twin, then to the config file, then to the default.
 * Every value is checked against its option and every problem reported at once: a UsageError for
 * the command line and environment, a ConfigError when the config file has problems too. A file's
 * values are all checked, even those a flag overrides, so `config check` and `serve` agree.
 */
export function parseArgs(argv: string[], specs: OptionSpec[], env: NodeJS.ProcessEnv = process.env, file?: ConfigFile): Parsed {
  const { given, positionals } = scan(argv, specs);
  const fileProblems = [...(file?.problems ?? [])];
  const problems: string[] = [];
  const values: Parsed['values'] = {};
  for (const spec of specs) {
    const inFile = file?.options[spec.name];
    let fromFile: Value | undefined;
    if (file && inFile !== undefined) {
      const checked = checkValue(spec, inFile, false);
      if ('problem' in checked) fileProblems.push(describe(`${file.path}: "${camelCase(spec.name)}"`, checked.problem));
      else fromFile = checked.value;
    }
    const flag = given.get(spec.name);
    const fromEnv = spec.env && env[spec.env] !== '' ? env[spec.env] : undefined;
    if (flag === undefined && fromEnv === undefined) {
      values[spec.name] = fromFile ?? (spec.default === undefined ? undefined : defaultValue(spec));
      continue;
    }
    const checked = checkValue(spec, flag ?? fromEnv!, true);
    if ('problem' in checked) problems.push(describe(flag !== undefined ? `--${spec.name}` : spec.env!, checked.problem));
    else values[spec.name] = checked.value;
  }
  if (fileProblems.length) throw new ConfigError([...fileProblems, ...problems]);
  if (problems.length) throw new UsageError(problems.join('\n'), problems);
  return { values, positionals };
}

/** The raw text of one option from the command line or its environment twin, before any checking. */
export function rawOption(argv: string[], specs: OptionSpec[], name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const flag = scan(argv, specs).given.get(name);
  if (typeof flag === 'string') return flag;
  const spec = specs.find((s) => s.name === name);
  return spec?.env && env[spec.env] ? env[spec.env] : undefined;
}

function scan(argv: string[], specs: OptionSpec[]): { given: Map<string, string | boolean>; positionals: string[] } {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const given = new Map<string, string | boolean>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const m = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(arg);
    if (!m) {
      positionals.push(arg);
      continue;
    }
    let [, name, inline] = m;
    let negated = false;
    if (!byName.has(name) && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    const spec = byName.get(name);
    if (!spec) throw new UsageError(`unknown option ${arg}`);
    if (spec.type === 'boolean') {
      given.set(name, negated ? false : inline === undefined ? true : inline !== 'false');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    given.set(name, value);
  }
  return { given, positionals };
}

/** `--port must be a number, …` but `--port: 70000 is out of range …`: a problem reads on from where the value came from. */
function describe(where: string, problem: string): string {
  return problem.startsWith('must ') ? `${where} ${problem}` : `${where}: ${problem}`;
}

function defaultValue(spec: OptionSpec): Value {
  const checked = checkValue(spec, spec.default, false);
  if ('problem' in checked) throw new Error(`the default of --${spec.name} is invalid: ${checked.problem}`);
  return checked.value;
}

/**
 * One value against its option. `asText` values come from the command line or the environment
 * (always strings); others from a JSON file or a default, where a number must be a number.
 */
export function checkValue(spec: OptionSpec, raw: unknown, asText: boolean): { value: Value } | { problem: string } {
  const got = `got ${JSON.stringify(raw)}`;
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      if (asText && ['true', '1'].includes(String(raw))) return { value: true };
      if (asText && ['false', '0'].includes(String(raw))) return { value: false };
      return { problem: `must be true or false, ${got}` };
    }
    case 'number': {
      // Text is read as written in decimal: `Number()` would also take hex, exponents and spaces.
      if (asText && typeof raw === 'string' && !DECIMAL.test(raw)) return { problem: `must be a number written in decimal, ${got}` };
      const n = typeof raw === 'number' ? raw : asText ? Number(raw) : NaN;
      if (!Number.isFinite(n)) return { problem: `must be a number, ${got}` };
      const bad = outOfBounds(spec, n, String(n));
      return bad ? { problem: bad } : { value: n };
    }
    case 'duration': {
      const ms = typeof raw === 'string' || typeof raw === 'number' ? durationMs(raw) : undefined;
      if (ms === undefined) return { problem: `must be ${DURATION_FORM}, ${got}` };
      const bad = outOfBounds(spec, ms, JSON.stringify(raw), formatDuration);
      return bad ? { problem: bad } : { value: raw as string | number };
    }
    case 'list': {
      let items: string[];
      if (typeof raw === 'string') items = raw.split(',');
      else if (!asText && Array.isArray(raw) && raw.every((v) => typeof v === 'string')) items = raw;
      else return { problem: `must be an array of strings or comma-separated text, ${got}` };
      items = items.map((s) => s.trim()).filter(Boolean);
      for (const item of items) {
        const bad = spec.check?.(item);
        if (bad) return { problem: `item ${JSON.stringify(item)}: ${bad}` };
      }
      return { value: items };
    }
    default: {
      if (typeof raw !== 'string') return { problem: `must be a string, ${got}` };
      if (spec.choices && !spec.choices.includes(raw)) return { problem: `${JSON.stringify(raw)} is not one of ${spec.choices.join(', ')}` };
      const bad = spec.check?.(raw);
      return bad ? { problem: bad } : { value: raw };
    }
  }
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

function outOfBounds(spec: OptionSpec, n: number, shown: string, unit: (n: number) => string = String): string | undefined {
  if (spec.integer && !Number.isInteger(n)) return `${shown} is not a whole number`;
  // Past this a whole number is not held exactly: 9007199254740993 would be read as ...992.
  if (spec.integer && !Number.isSafeInteger(n)) return `${shown} is more than the largest whole number a number here can hold (${Number.MAX_SAFE_INTEGER})`;
  const { min, max } = spec;
  if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
    if (min !== undefined && max !== undefined) return `${shown} is out of range ${unit(min)}-${unit(max)}`;
    return min !== undefined ? `${shown} is less than ${unit(min)}` : `${shown} is more than ${unit(max!)}`;
  }
  return undefined;
}

export function helpText(usage: string, summary: string, specs: OptionSpec[]): string {
  const flagOf = (s: OptionSpec) => `--${s.name}${s.type === 'boolean' ? '' : ` ${s.value ?? s.type.toUpperCase()}`}`;
  const width = Math.max(28, ...specs.map((s) => flagOf(s).length + 1));
  const rows = specs.map((s) => {
    const flag = flagOf(s);
    const choices = s.choices ? `: ${s.choices.slice(0, -1).join(', ')} or ${s.choices.at(-1)}` : '';
    const extras = [s.env ? `env ${s.env}` : '', s.default !== undefined ? `default ${s.default}` : ''].filter(Boolean).join(', ');
    return `  ${flag.padEnd(width)} ${s.help}${choices}${extras ? ` (${extras})` : ''}`;
  });
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n  ${'--help'.padEnd(width)} Show this help\n`;
}
