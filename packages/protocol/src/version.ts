import { RpcError } from "./errors.js";

/** The protocol this package speaks. Only the major number must match between host and plugin. */
export const PROTOCOL_VERSION = "1.0";

export function majorOf(version: string): number {
  const m = /^(\d+)(?:\.\d+)*$/.exec(version.trim());
  if (!m) throw RpcError.of("VERSION_MISMATCH", `"${version}" is not a protocol version (expected e.g. "1.0")`);
  return Number(m[1]);
}

/**
 * Checks that the other side's protocol version is compatible with ours (same major). Returns the version both sides
 * will use, the lower of the two minors, so new optional features are only used when both understand them.
 */
export function negotiateVersion(ours: string, theirs: string): string {
  const a = majorOf(ours);
  const b = majorOf(theirs);
  if (a !== b) {
    throw RpcError.of(
      "VERSION_MISMATCH",
      `protocol major version mismatch: this side speaks ${ours}, the other side ${theirs}`,
      { ours, theirs },
    );
  }
  const minor = (v: string) => Number(v.split(".")[1] ?? 0);
  return `${a}.${Math.min(minor(ours), minor(theirs))}`;
}
