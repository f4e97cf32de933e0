// How a config value of the wrong kind is named in an error: "string \"x\"", "a list", "a mapping".
import { quote } from './input-text.ts';

export const describe = (value: unknown): string => {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `string ${quote(value)}`;
  // YAML reads 1e400 as Infinity, which JSON would print as "null".
  if (typeof value === 'number')
    return Number.isFinite(value) ? `number ${value}` : `a number too large to use (${value})`;
  if (typeof value === 'object')
    return Object.getPrototypeOf(value) === Object.prototype
      ? 'a mapping'
      : `a ${value.constructor?.name ?? 'special'} value`;
  return `${typeof value} ${String(value)}`;
};
