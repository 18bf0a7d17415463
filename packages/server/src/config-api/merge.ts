/**
 * Deep merge of config documents, the rule profiles and hot updates use: tables merge key by key, everything else
 * (scalars, arrays, dates) is replaced by the overlay's value. Arrays replace rather than concatenate because a list
 * in a config is one value (a list of hosts, of regexes); appending to it from a profile would leave no way to shrink it.
 */

export type Table = Record<string, unknown>;

/** A TOML table / JSON object: not an array, not a date (smol-toml's TomlDate is a Date), not null. */
export function isTable(v: unknown): v is Table {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Date) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Sets an own property even for a key such as "__proto__": plain assignment would change the object's prototype
 * instead, which is how merges get polluted.
 */
export function setOwn(target: Table, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A new document: `overlay` over `base`. Neither input is modified; untouched subtrees are shared, not copied. */
export function deepMerge(base: Table, overlay: Table): Table {
  const out: Table = {};
  for (const [k, v] of Object.entries(base)) setOwn(out, k, v);
  for (const [k, v] of Object.entries(overlay)) {
    const prev = out[k];
    setOwn(out, k, isTable(prev) && isTable(v) ? deepMerge(prev, v) : v);
  }
  return out;
}

/** Structural equality of two config values (dates by instant); used to tell whether a protected field changed. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && String(a) === String(b) && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isTable(a) && isTable(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return Number.isNaN(a) && Number.isNaN(b);
}
