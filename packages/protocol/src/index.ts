export * from './errors.js';
export * from './names.js';
export * from './frames.js';
export * from './codec.js';
export * from './capability.js';
export * from './filter.js';
export * from './json-depth.js';
export * from './binary.js';
