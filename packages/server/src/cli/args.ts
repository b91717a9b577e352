/** One command-line option, with its environment twin and default: the single source for parsing and --help. */
export interface OptionSpec {
  name: string;
  env?: string;
  type: 'string' | 'number' | 'boolean' | 'list';
  default?: string | number | boolean;
  help: string;
  /** Placeholder shown in --help, e.g. URL. */
  value?: string;
}

export class UsageError extends Error {}

export type Parsed = { values: Record<string, string | number | boolean | string[] | undefined>; positionals: string[] };

/**
 * Parse `--name value`, `--name=value`, `-name value` (the single-dash spelling people type)
 * and `--no-name`; fall back to the environment twin, then to the default.
 */
export function parseArgs(
  argv: string[],
  specs: OptionSpec[],
  env: NodeJS.ProcessEnv = process.env,
  file: Record<string, unknown> = {},
): Parsed {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const raw = new Map<string, string | boolean>();
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
      raw.set(name, negated ? false : inline === undefined ? true : inline !== 'false');
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    raw.set(name, value);
  }
  const values: Parsed['values'] = {};
  for (const spec of specs) {
    // Precedence: flag, then environment, then config file, then default.
    const fromEnv = spec.env && env[spec.env] !== '' ? env[spec.env] : undefined;
    const fromFile = file[spec.name];
    if (fromFile !== undefined && raw.get(spec.name) === undefined && fromEnv === undefined) {
      values[spec.name] = fromFile as string | number | boolean | string[];
      continue;
    }
    const given = raw.get(spec.name) ?? fromEnv ?? spec.default;
    values[spec.name] = given === undefined ? undefined : coerce(spec, given);
  }
  return { values, positionals };
}

function coerce(spec: OptionSpec, value: string | number | boolean): string | number | boolean | string[] {
  switch (spec.type) {
    case 'number': {
      const n = Number(value);
      if (!Number.isFinite(n) || String(value).trim() === '') throw new UsageError(`--${spec.name} must be a number, got ${JSON.stringify(value)}`);
      return n;
    }
    case 'boolean':
      return value === true || value === 'true' || value === '1';
    case 'list':
      return String(value)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      return String(value);
  }
}

export function helpText(usage: string, summary: string, specs: OptionSpec[]): string {
  const rows = specs.map((s) => {
    const flag = `--${s.name}${s.type === 'boolean' ? '' : ` ${s.value ?? s.type.toUpperCase()}`}`;
    const extras = [s.env ? `env ${s.env}` : '', s.default !== undefined ? `default ${s.default}` : ''].filter(Boolean).join(', ');
    return `  ${flag.padEnd(28)} ${s.help}${extras ? ` (${extras})` : ''}`;
  });
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n  ${'--help'.padEnd(28)} Show this help\n`;
}
