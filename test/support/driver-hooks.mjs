/**
 * Module hooks for a child process (`node --import test/support/driver-hooks.mjs`): every import or
 * require of a driver package (HUBBUB_TEST_DRIVERS, comma-separated) is written to
 * HUBBUB_TEST_DRIVER_LOG, and with HUBBUB_TEST_DRIVERS_MISSING=1 it fails as for a package that is not
 * installed. ES imports go through a resolve hook (driver-resolve.mjs), require() through Module._load.
 */
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const drivers = new Set((process.env.HUBBUB_TEST_DRIVERS ?? '').split(',').filter(Boolean));
const log = process.env.HUBBUB_TEST_DRIVER_LOG;
const missing = process.env.HUBBUB_TEST_DRIVERS_MISSING === '1';

register('./driver-resolve.mjs', { parentURL: import.meta.url, data: { drivers: [...drivers], log, missing } });

const packageOf = (specifier) => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const name = packageOf(request);
  if (drivers.has(name)) {
    if (log) appendFileSync(log, `${name}\n`);
    if (missing) throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return load.call(this, request, parent, isMain);
};
