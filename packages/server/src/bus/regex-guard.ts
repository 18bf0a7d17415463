import { BusError } from "./types.js";

/**
 * User regexes on bus records, guarded against ReDoS (reference §5.5). JavaScript's backtracking engine cannot be
 * interrupted, so a time budget alone is no protection: one match of `(a+)+b` or even `.*a.*b` on a 1 KiB subject
 * blocks the event loop for seconds. So a pattern is judged before it runs:
 *   - longer than the cap → REGEX_TOO_LONG; not a valid JS regex or an unsupported flag → REGEX_INVALID;
 *   - backreferences, and a repeated group whose body can itself match in several ways (a nested quantifier as in
 *     `(a+)+`, an alternation as in `(a|aa)*`) → REGEX_UNSAFE: their cost is exponential in the subject length;
 *   - otherwise its worst-case backtracking cost is estimated as a polynomial of the subject length, and the subject
 *     is truncated so that the estimate stays under MAX_STEPS (about 2 ms). `.*b` keeps the full 1 KiB subject,
 *     `.*a.*b` sees about 160 characters; a pattern that would see fewer than MIN_SUBJECT → REGEX_UNSAFE.
 * What remains (many cheap matches) is bounded by the per-query time budget → REGEX_TIMEOUT.
 */

/** Worst-case backtracking steps allowed for one match (V8 runs about 2 per ns on this kind of loop). */
const MAX_STEPS = 4_000_000;
/** Below this many characters a truncated subject would make the filter meaningless. */
const MIN_SUBJECT = 64;
/** A bounded quantifier above this is treated as unbounded when judging nesting. */
const LARGE_REPEAT = 64;
const ALLOWED_FLAGS = /^[imsu]*$/;

export interface GuardedRegex {
  readonly source: string;
  readonly flags: string;
  /** Characters of the subject that are matched (the rest is cut off). */
  readonly maxSubject: number;
  test(subject: string): boolean;
}

export interface RegexGuardLimits {
  regexMaxLength: number;
  regexMaxSubjectLength: number;
}

export function compileGuardedRegex(pattern: unknown, flags: unknown, limits: RegexGuardLimits): GuardedRegex {
  if (typeof pattern !== "string") throw new BusError("REGEX_INVALID", "regex pattern must be a string");
  const f = flags === undefined || flags === null ? "" : flags;
  if (typeof f !== "string" || !ALLOWED_FLAGS.test(f) || new Set(f).size !== f.length) {
    throw new BusError("REGEX_INVALID", `regex flags must be a subset of "imsu" (got ${JSON.stringify(f)})`);
  }
  if (pattern.length > limits.regexMaxLength) {
    throw new BusError(
      "REGEX_TOO_LONG",
      `regex pattern is ${pattern.length} characters; the limit is ${limits.regexMaxLength}`,
    );
  }
  let re: RegExp;
  try {
    re = new RegExp(pattern, f);
  } catch (err) {
    throw new BusError("REGEX_INVALID", `invalid regex: ${(err as Error).message}`);
  }
  const tree = parse(pattern);
  const anchored = !f.includes("m") && tree.alternatives.length === 1 && tree.alternatives[0]?.[0]?.kind === "start";
  let maxSubject = limits.regexMaxSubjectLength;
  // The estimate grows with the subject length, so find the longest subject that stays within MAX_STEPS.
  if (worstCase(tree, maxSubject, anchored) > MAX_STEPS) {
    let lo = 0;
    let hi = maxSubject;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (worstCase(tree, mid, anchored) <= MAX_STEPS) lo = mid;
      else hi = mid - 1;
    }
    if (lo < Math.min(MIN_SUBJECT, limits.regexMaxSubjectLength)) {
      throw new BusError(
        "REGEX_UNSAFE",
        "regex refused: its worst-case backtracking is too costly (too many unbounded quantifiers in a row)",
        { pattern },
      );
    }
    maxSubject = lo;
  }
  const cut = maxSubject;
  return {
    source: pattern,
    flags: f,
    maxSubject: cut,
    test: (subject: string) => re.test(subject.length > cut ? subject.slice(0, cut) : subject),
  };
}

// ---- a small parser of (already validated) JS regex syntax, enough to judge backtracking cost ----

type Node =
  | { kind: "atom" }
  | { kind: "start" }
  | { kind: "end" }
  | { kind: "group"; body: Alt }
  | { kind: "repeat"; min: number; max: number; child: Node };
interface Alt {
  alternatives: Node[][];
}

function parse(p: string): Alt {
  let i = 0;
  const unsafe = (why: string): never => {
    throw new BusError("REGEX_UNSAFE", `regex refused: ${why}`, { pattern: p });
  };

  function parseAlt(): Alt {
    const alternatives: Node[][] = [[]];
    while (i < p.length) {
      const c = p[i];
      if (c === ")") break;
      if (c === "|") {
        i++;
        alternatives.push([]);
        continue;
      }
      let node = parseAtom();
      node = parseQuantifier(node);
      (alternatives[alternatives.length - 1] as Node[]).push(node);
    }
    return { alternatives };
  }

  function parseAtom(): Node {
    const c = p[i] as string;
    if (c === "^") {
      i++;
      return { kind: "start" };
    }
    if (c === "$") {
      i++;
      return { kind: "end" };
    }
    if (c === "\\") {
      const n = p[i + 1] ?? "";
      if (/[1-9]/.test(n) || (n === "k" && p[i + 2] === "<")) unsafe("backreferences are not allowed");
      i += 2;
      if ((n === "u" || n === "p" || n === "P") && p[i] === "{") {
        while (i < p.length && p[i] !== "}") i++;
        i++;
      } else if (n === "u") i += 4;
      else if (n === "x") i += 2;
      else if (n === "c") i += 1;
      return { kind: "atom" };
    }
    if (c === "[") {
      i++;
      if (p[i] === "^") i++;
      if (p[i] === "]") i++; // a leading ] is a literal in a class
      while (i < p.length && p[i] !== "]") i += p[i] === "\\" ? 2 : 1;
      i++;
      return { kind: "atom" };
    }
    if (c === "(") {
      i++;
      if (p[i] === "?") {
        // (?: (?= (?! (?<= (?<! (?<name>
        i++;
        if (p[i] === "<" && p[i + 1] !== "=" && p[i + 1] !== "!") {
          while (i < p.length && p[i] !== ">") i++;
          i++;
        } else if (p[i] === "<") i += 2;
        else i++;
      }
      const body = parseAlt();
      i++; // ")"
      return { kind: "group", body };
    }
    i++;
    return { kind: "atom" };
  }

  function parseQuantifier(node: Node): Node {
    const c = p[i];
    let min: number;
    let max: number;
    if (c === "*" || c === "+" || c === "?") {
      min = c === "+" ? 1 : 0;
      max = c === "?" ? 1 : Number.POSITIVE_INFINITY;
      i++;
    } else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
      if (!m) return node; // a literal "{" outside unicode mode
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] ? Number(m[3]) : Number.POSITIVE_INFINITY;
      i += m[0].length;
    } else return node;
    if (p[i] === "?") i++; // lazy: same worst case
    if (max > 1 && node.kind === "group") {
      const inner = shape(node.body);
      if (inner.repeats && (max > LARGE_REPEAT || inner.largeRepeats)) {
        unsafe("nested quantifier (a repeated group containing a repeat, as in (a+)+)");
      }
      if (inner.alternation && max > LARGE_REPEAT) {
        unsafe("repeated alternation (as in (a|aa)*)");
      }
    }
    return { kind: "repeat", min, max, child: node };
  }

  const tree = parseAlt();
  return tree;
}

/** Whether a group body contains repeats (any, and large ones) or alternation, at any depth. */
function shape(alt: Alt): { repeats: boolean; largeRepeats: boolean; alternation: boolean } {
  let repeats = false;
  let largeRepeats = false;
  let alternation = alt.alternatives.length > 1;
  const visit = (n: Node) => {
    if (n.kind === "repeat") {
      if (n.max > 1) repeats = true;
      if (n.max > LARGE_REPEAT) largeRepeats = true;
      visit(n.child);
    } else if (n.kind === "group") {
      const s = shape(n.body);
      repeats ||= s.repeats;
      largeRepeats ||= s.largeRepeats;
      alternation ||= s.alternation;
    }
  };
  for (const seq of alt.alternatives) for (const n of seq) visit(n);
  return { repeats, largeRepeats, alternation };
}

/**
 * Number of ways the pattern can try to match from one position (a product over a sequence, a sum over
 * alternatives, repeat counts capped at the subject length L), times L start positions unless anchored.
 */
function worstCase(tree: Alt, L: number, anchored: boolean): number {
  const alt = (a: Alt): number => {
    let sum = 0;
    for (const seq of a.alternatives) {
      let prod = 1;
      for (const n of seq) prod *= node(n);
      sum += prod;
    }
    return sum;
  };
  const node = (n: Node): number => {
    switch (n.kind) {
      case "atom":
      case "start":
      case "end":
        return 1;
      case "group":
        return alt(n.body);
      case "repeat": {
        const c = node(n.child);
        const reps = Math.min(n.max, L);
        if (c <= 1) return reps - Math.min(n.min, reps) + 1;
        return c ** reps;
      }
    }
  };
  return alt(tree) * (anchored ? 1 : L);
}

/** What a filter calls after each regex test. */
export interface Budget {
  check(): void;
}

/** A deadline shared by every regex test of one query. */
export class RegexBudget implements Budget {
  private readonly deadline: number;
  private n = 0;
  constructor(readonly ms: number) {
    this.deadline = performance.now() + ms;
  }
  /** The clock is read every 8th call to keep the check cheap; each test is already bounded (see above). */
  check(): void {
    if ((++this.n & 7) === 0 && performance.now() > this.deadline) {
      throw new BusError("REGEX_TIMEOUT", `regex filters exceeded the query budget of ${this.ms} ms`);
    }
  }
}

/** No deadline: for one-record checks (subscriptions), whose cost the static guard already bounds. */
export const NO_BUDGET: Budget = Object.freeze({ check() {} });
