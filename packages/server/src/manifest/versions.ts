import semver from "semver";
import type { VersionRanges } from "./types.js";

/**
 * Version ranges are semver; PEP 440 forms that N.E.K.O manifests use (">=0.1.0,<0.3.0", "==1.*", "~=1.2")
 * are converted so those manifests load unmodified.
 */
export function toSemverRange(spec: string): string {
  const parts = spec
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^(~=|==|!=|>=|<=|>|<|===)?\s*(.+)$/.exec(p);
      if (!m) return p;
      const [, op = "", v = ""] = m;
      if (op === "~=") {
        const segs = v.split(".");
        // ~=1.2 means >=1.2,<2 ; ~=1.2.3 means >=1.2.3,<1.3
        const upper = segs.length <= 2 ? `${Number(segs[0]) + 1}.0.0` : `${segs[0]}.${Number(segs[1]) + 1}.0`;
        return `>=${coerce(v)} <${upper}`;
      }
      if (op === "==" || op === "===") return v.includes("*") ? v.replace(/\.\*$/, ".x") : `=${coerce(v)}`;
      if (op === "!=")
        return v.includes("*") ? `<${coerce(v.replace(".*", ""))} || >=${bump(v)}` : `<${coerce(v)} || >${coerce(v)}`;
      return `${op}${op ? coerce(v) : v}`;
    });
  return parts.join(" ");
}

function coerce(v: string): string {
  return semver.coerce(v, { includePrerelease: true })?.version ?? v;
}

function bump(v: string): string {
  const base = v.replace(".*", "").split(".").map(Number);
  base[base.length - 1] = (base[base.length - 1] ?? 0) + 1;
  return coerce(base.join("."));
}

export function validRange(spec: string): string | null {
  return semver.validRange(toSemverRange(spec), { includePrerelease: true });
}

export type RangeCheck =
  | { ok: true; warnings: string[] }
  | { ok: false; code: "VERSION_CONFLICT" | "VERSION_UNSUPPORTED"; message: string };

/** Checks the host's SDK or protocol version against a manifest's ranges (the rules of N.E.K.O's loader). */
export function checkRanges(kind: "sdk" | "protocol", actual: string, ranges: VersionRanges): RangeCheck {
  const version = coerce(actual);
  const inRange = (spec: string) => semver.satisfies(version, toSemverRange(spec), { includePrerelease: true });
  for (const [key, spec] of Object.entries(ranges)) {
    const specs = Array.isArray(spec) ? spec : [spec];
    for (const s of specs as string[]) {
      if (typeof s === "string" && validRange(s) === null) {
        return {
          ok: false,
          code: "VERSION_UNSUPPORTED",
          message: `${kind}.${key} "${s}" is not a valid version range`,
        };
      }
    }
  }
  for (const c of ranges.conflicts ?? []) {
    if (inRange(c))
      return {
        ok: false,
        code: "VERSION_CONFLICT",
        message: `declares a conflict with ${kind} ${actual} (conflicts "${c}")`,
      };
  }
  const warnings: string[] = [];
  const supported = ranges.supported ? inRange(ranges.supported) : true;
  const untested = ranges.untested ? inRange(ranges.untested) : false;
  if (ranges.supported && !supported && !untested) {
    return {
      ok: false,
      code: "VERSION_UNSUPPORTED",
      message: `supports ${kind} "${ranges.supported}", but this host has ${actual}`,
    };
  }
  if (!supported && untested) warnings.push(`${kind} ${actual} is only in the untested range "${ranges.untested}"`);
  if (ranges.recommended && !inRange(ranges.recommended)) {
    warnings.push(`${kind} ${actual} is outside the recommended range "${ranges.recommended}"`);
  }
  return { ok: true, warnings };
}
