/** Event type filters of a manifest's [plugin.events]: `*` globs; exclude wins over include; no include = all. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`);
}

export function makeEventFilter(include: string[], exclude: string[]): (type: string) => boolean {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return (type) => !exc.some((r) => r.test(type)) && (inc.length === 0 || inc.some((r) => r.test(type)));
}
