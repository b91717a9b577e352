/**
 * Where core, engines and transports report what no client is told: a pino logger fits as it is
 * (`hubbub serve` passes its own). Without one, warnings and errors become process warnings (Node
 * prints them to stderr), so nothing is dropped silently; debug lines are dropped.
 */
export interface Log {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const processLog: Log = {
  debug: () => {},
  warn: (fields, message) => process.emitWarning(describe(fields, message), 'HubbubWarning'),
  error: (fields, message) => process.emitWarning(describe(fields, message), 'HubbubError'),
};

function describe(fields: object, message: string): string {
  const err = (fields as { err?: unknown }).err;
  if (err instanceof Error) return `${message}: ${err.stack ?? err.message}`;
  return Object.keys(fields).length > 0 ? `${message} ${JSON.stringify(fields)}` : message;
}
