// A YAML or JSON mapping, as opposed to a list, a scalar or a class instance (a Date, say):
// config and retention parsing both accept only these where a mapping is expected.
export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.getPrototypeOf(value) === Object.prototype;
