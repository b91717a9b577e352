import { createRequire } from 'node:module';
import { ErrorCode, HubbubError } from '@hubbub/protocol';

const requireHere = createRequire(import.meta.url);

/**
 * A driver that only some deployments need (ioredis, pg, better-sqlite3: optionalDependencies of
 * @hubbub/server), loaded when first used, so that embedding ChannelHub or createRealtime neither
 * loads nor needs them. Synchronous (they are CommonJS), so constructors stay synchronous. A missing
 * package is a 50001 error that says what needs it and how to install it.
 */
export function optionalDependency<T>(name: string, neededFor: string, otherwise = ''): T {
  try {
    return requireHere(name) as T;
  } catch (err) {
    if (!isMissing(err, name)) throw err;
    throw new MissingDependency(name, `${neededFor} needs the package ${name}, which is not installed: npm install ${name}${otherwise && `, or ${otherwise}`}`, err);
  }
}

/** An optional package that is not installed (50001): its message is the whole fix. */
export class MissingDependency extends HubbubError {
  constructor(
    readonly dependency: string,
    message: string,
    cause: unknown,
  ) {
    super(ErrorCode.Bootstrap, message);
    this.cause = cause;
  }
}

function isMissing(err: unknown, name: string): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && String((err as Error).message).includes(`'${name}'`);
}
