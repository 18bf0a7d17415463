import semver from "semver";
import type { VersionRanges } from "./types.js";

// Prereleases take part in every comparison: a host at "1.1.0-rc.1" must still match "^1.0".
const OPTS = { includePrerelease: true } as const;

/** One PEP 440 clause: N.E.K.O manifests use these (">=0.1.0", "==1.*", "~=1.2"), one per comma-separated part. */
const PEP_CLAUSE = /^(~=|===|==|!=|>=|<=|>|<)\s*([^\s,|]+)$/;
const PEP_VERSION = /^v?(\d+(?:\.\d+){0,2})(?:[-_.]?(a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d+)?)?$/i;
const PEP_PRE: Record<string, string> = {
  a: "a",
  alpha: "a",
  b: "b",
  beta: "b",
  c: "rc",
  rc: "rc",
  pre: "rc",
  preview: "rc",
};

/**
 * A version range as semver, or null when it is not a valid range. Semver ranges ("^1.0", ">=1.0.0 <2.0.0",
 * "1.x || 2.x") pass through; PEP 440 clauses are converted: commas mean "and", "==1.*" a wildcard, "~=1.2"
 * compatible release, "!=" a hole. Versions are padded ("<=1.2" means "<=1.2.0" as in PEP 440, not semver's "<1.3.0").
 */
export function toSemverRange(spec: string): string | null {
  const alternatives: string[] = [];
  for (const alt of spec.split("||")) {
    // "!=" turns one clause into two alternatives, so an "and" of clauses becomes a product of alternatives.
    let sets = [""];
    for (const part of alt
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const m = PEP_CLAUSE.exec(part);
      const options = m ? pepClause(m[1] ?? "", m[2] ?? "") : [part];
      if (!options) return null;
      sets = sets.flatMap((s) => options.map((o) => `${s} ${o}`.trim()));
    }
    alternatives.push(...sets.map((s) => s || "*"));
  }
  const range = alternatives.join(" || ");
  return semver.validRange(range, OPTS) === null ? null : range;
}

/** The alternatives (semver comparator sets) one PEP 440 clause allows, or null if it is not valid. */
function pepClause(op: string, v: string): string[] | null {
  if (v.endsWith(".*")) {
    const release = v.slice(0, -2);
    if ((op !== "==" && op !== "!=") || !/^\d+(\.\d+)?$/.test(release)) return null;
    const segs = release.split(".").map(Number);
    const low = pad(segs);
    const high = pad(bumpLast(segs));
    return op === "==" ? [`>=${low} <${high}-0`] : [`<${low}`, `>=${high}-0`];
  }
  const full = pepVersion(v);
  if (!full) return null;
  switch (op) {
    case "==":
    case "===":
      return [`=${full}`];
    case "!=":
      return [`<${full}`, `>${full}`];
    case "~=": {
      const release = /^v?(\d+(?:\.\d+)*)/.exec(v)?.[1]?.split(".").map(Number) ?? [];
      // PEP 440: "~=1" is meaningless; "~=1.2" is ">=1.2,==1.*"; "~=1.2.3" is ">=1.2.3,==1.2.*".
      if (release.length < 2) return null;
      return [`>=${full} <${pad(bumpLast(release.slice(0, -1)))}-0`];
    }
    default:
      return [`${op}${full}`];
  }
}

/** A PEP 440 (or semver) version as a full semver version: "1.2" → "1.2.0", "1.0rc1" → "1.0.0-rc.1". */
function pepVersion(v: string): string | null {
  const valid = semver.valid(v);
  if (valid) return valid;
  const m = PEP_VERSION.exec(v);
  if (!m) return null;
  const release = pad((m[1] ?? "").split(".").map(Number));
  return m[2] ? `${release}-${PEP_PRE[m[2].toLowerCase()]}.${m[3] ?? "0"}` : release;
}

function pad(segs: number[]): string {
  return [...segs, 0, 0, 0].slice(0, 3).join(".");
}

function bumpLast(segs: number[]): number[] {
  return segs.map((n, i) => (i === segs.length - 1 ? n + 1 : n));
}

/** "1.0" → "1.0.0"; null when there is no version in it at all. */
export function coerceVersion(v: string): string | null {
  return semver.valid(v) ?? semver.coerce(v, OPTS)?.version ?? null;
}

export type RangeCheck =
  | { ok: true; warnings: string[] }
  | {
      ok: false;
      code: "VERSION_CONFLICT" | "VERSION_UNSUPPORTED";
      message: string;
      /** Dotted manifest key of the range that decided it, e.g. "plugin.sdk.supported". */
      key: string;
    };

/**
 * Checks the host's SDK or protocol version against a manifest's ranges, with N.E.K.O's loader rules: a conflict
 * match, or a `supported` range that holds neither it nor `untested`, refuses the plugin; being only in `untested`,
 * or outside `recommended`, is a warning. A range that cannot be read refuses the plugin too, rather than guessing.
 */
export function checkRanges(kind: "sdk" | "protocol", actual: string, ranges: VersionRanges): RangeCheck {
  const label = kind === "sdk" ? "SDK" : "protocol";
  const key = (k: string) => `plugin.${kind}.${k}`;
  const version = coerceVersion(actual);
  if (!version) {
    return {
      ok: false,
      code: "VERSION_UNSUPPORTED",
      key: `plugin.${kind}`,
      message: `the host's ${label} version "${actual}" is not a version`,
    };
  }
  const specs: [string, string][] = [
    ...(["recommended", "supported", "untested"] as const).flatMap((k): [string, string][] => {
      const s = ranges[k];
      return s === undefined ? [] : [[k, s]];
    }),
    ...(ranges.conflicts ?? []).map((s): [string, string] => ["conflicts", s]),
  ];
  const semverOf = new Map<string, string>();
  for (const [k, s] of specs) {
    const r = toSemverRange(s);
    if (r === null) {
      return {
        ok: false,
        code: "VERSION_UNSUPPORTED",
        key: key(k),
        message: `${key(k)} is not a valid version range (got "${s}")`,
      };
    }
    semverOf.set(s, r);
  }
  const inRange = (s: string) => semver.satisfies(version, semverOf.get(s) ?? s, OPTS);

  for (const c of ranges.conflicts ?? []) {
    if (inRange(c)) {
      return {
        ok: false,
        code: "VERSION_CONFLICT",
        key: key("conflicts"),
        message: `${label} ${actual} is in ${key("conflicts")} "${c}"`,
      };
    }
  }
  const { supported, untested, recommended } = ranges;
  const inSupported = supported !== undefined && inRange(supported);
  const inUntested = untested !== undefined && inRange(untested);
  if (supported !== undefined && !inSupported && !inUntested) {
    const also = untested !== undefined ? ` and outside ${key("untested")} "${untested}"` : "";
    return {
      ok: false,
      code: "VERSION_UNSUPPORTED",
      key: key("supported"),
      message: `${label} ${actual} is outside ${key("supported")} "${supported}"${also}`,
    };
  }
  const warnings: string[] = [];
  if (inUntested && !inSupported) {
    warnings.push(`${label} ${actual} is only in ${key("untested")} "${untested}": the plugin was not tested with it`);
  }
  if (recommended !== undefined && !inRange(recommended)) {
    warnings.push(`${label} ${actual} is outside ${key("recommended")} "${recommended}"`);
  }
  return { ok: true, warnings };
}
