/** The resolve hook behind driver-hooks.mjs (module hooks run in a thread of their own). */
import { appendFileSync } from 'node:fs';

let drivers = new Set();
let log;
let missing = false;

export function initialize(data) {
  drivers = new Set(data.drivers);
  log = data.log;
  missing = data.missing;
}

const packageOf = (specifier) => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);

export async function resolve(specifier, context, next) {
  const name = packageOf(specifier);
  if (drivers.has(name)) {
    if (log) appendFileSync(log, `${name}\n`);
    if (missing) throw Object.assign(new Error(`Cannot find package '${name}' imported from ${context.parentURL}`), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}
