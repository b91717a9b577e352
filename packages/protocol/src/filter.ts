import { ErrorCode, HubbubError } from './errors.js';
import type { FilterValue, TopicFilter } from './frames.js';

export const MAX_FILTER_FIELDS = 20;
export const MAX_FILTER_IN_VALUES = 100;
/** A filter as JSON: the server keeps each one for as long as its subscription lasts. */
export const MAX_FILTER_BYTES = 16 * 1024;

/** Check a filter's shape: flat fields, primitive values or `{ in: [primitives] }`; nothing else. */
export function parseFilter(input: unknown): TopicFilter | undefined {
  if (input === undefined) return undefined;
  const bad = (why: string): never => {
    throw new HubbubError(ErrorCode.BadFrame, `invalid filter: ${why}`);
  };
  if (input === null || typeof input !== 'object' || Array.isArray(input)) bad('must be an object of field → value');
  if (JSON.stringify(input).length > MAX_FILTER_BYTES) bad(`at most ${MAX_FILTER_BYTES} bytes as JSON`);
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.length > MAX_FILTER_FIELDS) bad(`at most ${MAX_FILTER_FIELDS} fields`);
  const out: TopicFilter = {};
  for (const [field, cond] of entries) {
    if (field.length === 0 || field.length > 64) bad('field names are 1-64 characters');
    if (isPrimitive(cond)) {
      out[field] = cond;
      continue;
    }
    if (cond === null || typeof cond !== 'object' || Array.isArray(cond)) bad(`"${field}" must be a value or { in: [...] }`);
    const ops = Object.keys(cond as object);
    if (ops.length !== 1 || ops[0] !== 'in') bad(`"${field}": the only operator is "in" (got ${ops.map((o) => JSON.stringify(o)).join(', ')})`);
    const values = (cond as { in: unknown }).in;
    if (!Array.isArray(values) || values.length > MAX_FILTER_IN_VALUES || !values.every(isPrimitive)) {
      bad(`"${field}": "in" takes an array of at most ${MAX_FILTER_IN_VALUES} strings, numbers, booleans or null`);
    }
    out[field] = { in: values as FilterValue[] };
  }
  return out;
}

/** Does an event payload pass the filter? No filter passes everything. */
export function matchesFilter(filter: TopicFilter | undefined, payload: unknown): boolean {
  if (!filter) return true;
  const record = payload !== null && typeof payload === 'object' ? (payload as Record<string, unknown>) : {};
  for (const [field, cond] of Object.entries(filter)) {
    const value = Object.prototype.hasOwnProperty.call(record, field) ? record[field] : undefined;
    if (isPrimitive(cond)) {
      if (value !== cond) return false;
    } else if (!cond.in.some((v) => v === value)) {
      return false;
    }
  }
  return true;
}

function isPrimitive(v: unknown): v is FilterValue {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}
