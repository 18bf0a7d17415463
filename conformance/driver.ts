/**
 * The conformance driver: runs the language-neutral vectors in `conformance/vectors/` against an SDK's conformance
 * plugin (conformance/README.md) and reports every deviation.
 *
 * Deliberately independent of `@plugd/protocol`: the suite pins the wire, so it must not share the code it checks.
 * Its stdout parser is stricter than the host's: the host resynchronises over stray bytes (and logs them), the driver
 * reports each of them as a failure, because a conforming SDK never lets them reach stdout.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CONFORMANCE_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(CONFORMANCE_DIR, "..");
export const VECTORS_DIR = path.join(CONFORMANCE_DIR, "vectors");
const INCLUDES_DIR = path.join(VECTORS_DIR, "include");

// ---------------------------------------------------------------------------------------------------------------
// Vector format (documented in conformance/README.md)

/** A piece of raw input: UTF-8 text, or `{hex}` for bytes that are not valid UTF-8. */
export type Chunk = string | { hex: string };

export type Step =
  | { include: string }
  | { send: string | Chunk[]; chunkBytes?: number; pauseMs?: number }
  | { sendFrame: unknown }
  | { expect: unknown; timeoutMs?: number }
  | { expectUnordered: unknown[]; timeoutMs?: number }
  | { expectNotification: { method: string; count: number; params?: unknown }; timeoutMs?: number }
  | { respond: { result: unknown } | { error: unknown } }
  | { expectLog: { level?: string; msg: string }; timeoutMs?: number }
  | { expectStderr: string; timeoutMs?: number }
  | { expectExit: { withinMs: number; code?: number } }
  | { closeStdin: true }
  | { wait: number };

export interface Vector {
  name: string;
  description?: string;
  /** Messages the plugin may still send after the last step (e.g. an answer racing its own exit). */
  allowExtraMessages?: boolean;
  /** The plugin may exit on its own (e.g. after refusing the handshake); otherwise only an `expectExit` step may. */
  allowExit?: boolean;
  steps: Step[];
}

export interface Failure {
  vector: string;
  /** Index into the vector's steps after includes are expanded; -1 for checks that span the whole run. */
  step: number;
  /** The step's kind (`expect`, `send`, …) or `stdout`/`end` for whole-run checks. */
  kind: string;
  message: string;
  expected?: unknown;
  actual?: unknown;
}

export interface VectorResult {
  vector: string;
  ok: boolean;
  failures: Failure[];
  /** What the plugin wrote to stderr (its log), for a failing test's message. */
  stderr: string;
}

export interface SdkSpec {
  /** argv; the first element is resolved against the repo root when it contains a slash. */
  command: string[];
  /** Extra environment; `{root}` in a value becomes the repo root. */
  env?: Record<string, string>;
  /** Files the command needs (relative to the repo root); missing ones mean "build first". */
  requires?: string[];
  /** How to build what `requires` lists (argv, run in the repo root). */
  build?: string[];
  /** The tool `build` needs on PATH (go, cargo, …); without it the build is not attempted. */
  toolchain?: string;
  /** Folders whose files, when newer than `requires`, make the build stale. */
  sources?: string[];
}

/** The standard timeout of an `expect…` step; long enough for a cold interpreter on a busy CI box. */
const DEFAULT_EXPECT_MS = 5_000;
/** A whole vector never takes longer than this, whatever its steps say. */
const VECTOR_DEADLINE_MS = 30_000;
/** How long a chunked `send` pauses between writes, so each write is a separate read on the plugin's side. */
const DEFAULT_PAUSE_MS = 2;

export function loadVector(file: string): Vector {
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as Omit<Vector, "name"> & { name?: string };
  if (!Array.isArray(raw.steps)) throw new Error(`${file}: a vector needs "steps": [...]`);
  return { ...raw, name: raw.name ?? path.basename(file, ".json"), steps: expandIncludes(raw.steps, file, []) };
}

/** Every vector in conformance/vectors, sorted by name so reports are stable. */
export function loadVectors(dir = VECTORS_DIR): Vector[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => loadVector(path.join(dir, f)));
}

function expandIncludes(steps: Step[], from: string, seen: string[]): Step[] {
  const out: Step[] = [];
  for (const step of steps) {
    if ("include" in step) {
      if (seen.includes(step.include)) throw new Error(`${from}: include cycle through '${step.include}'`);
      const file = path.join(INCLUDES_DIR, `${step.include}.json`);
      const inc = JSON.parse(fs.readFileSync(file, "utf8")) as { steps: Step[] };
      out.push(...expandIncludes(inc.steps, file, [...seen, step.include]));
    } else {
      out.push(step);
    }
  }
  return out;
}

export function stepKind(step: Step): string {
  const k = Object.keys(step).find((key) => key !== "timeoutMs" && key !== "chunkBytes" && key !== "pauseMs");
  return k ?? "?";
}

// ---------------------------------------------------------------------------------------------------------------
// Matching: subset match with placeholders

export interface Mismatch {
  path: string;
  expected: unknown;
  actual: unknown;
  why: string;
}

const TYPE_PLACEHOLDERS: Record<string, (v: unknown) => boolean> = {
  $any: () => true,
  $string: (v) => typeof v === "string",
  $nonEmptyString: (v) => typeof v === "string" && v.length > 0,
  $number: (v) => typeof v === "number",
  $integer: (v) => Number.isInteger(v),
  $boolean: (v) => typeof v === "boolean",
  $object: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  $array: (v) => Array.isArray(v),
  $null: (v) => v === null,
  /** JSON-RPC ids: a string or a number. */
  $id: (v) => typeof v === "string" || typeof v === "number",
};

const ABSENT = "$absent";

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Compares `actual` against the pattern `expected`:
 * - objects match as a subset (extra keys in `actual` are fine; serializers add optional fields), `"$absent"` as a
 *   value requires the key to be missing;
 * - arrays match element-wise and must have the same length;
 * - strings starting with `$` are placeholders (`$any`, `$string`, `$number`, …; `$$x` is the literal `$x`);
 * - `{"$regex": "…"}` matches strings, `{"$oneOf": [p, …]}` any of the patterns, `{"$exact": v}` deep equality,
 *   `{"$unordered": [p, …]}` an array of the same length whose elements match the patterns in any order.
 */
export function match(expected: unknown, actual: unknown, at = "$"): Mismatch[] {
  if (typeof expected === "string" && expected.startsWith("$")) {
    if (expected.startsWith("$$")) return literal(expected.slice(1), actual, at);
    const test = TYPE_PLACEHOLDERS[expected];
    if (!test) return [{ path: at, expected, actual, why: `unknown placeholder ${expected}` }];
    return test(actual) ? [] : [{ path: at, expected, actual, why: `expected ${expected.slice(1)}` }];
  }
  if (isPlainObject(expected)) {
    if ("$regex" in expected) {
      const re = new RegExp(String(expected.$regex), "u");
      return typeof actual === "string" && re.test(actual)
        ? []
        : [{ path: at, expected: `/${String(expected.$regex)}/`, actual, why: "does not match the pattern" }];
    }
    if ("$exact" in expected) {
      return JSON.stringify(canonical(expected.$exact)) === JSON.stringify(canonical(actual))
        ? []
        : [{ path: at, expected: expected.$exact, actual, why: "not exactly equal" }];
    }
    if ("$oneOf" in expected) {
      const options = expected.$oneOf as unknown[];
      return options.some((p) => match(p, actual, at).length === 0)
        ? []
        : [{ path: at, expected, actual, why: "matches none of the alternatives" }];
    }
    if ("$unordered" in expected) return matchUnordered(expected.$unordered as unknown[], actual, at);
    if (!isPlainObject(actual)) return [{ path: at, expected, actual, why: "expected an object" }];
    const out: Mismatch[] = [];
    for (const [key, pattern] of Object.entries(expected)) {
      const sub = `${at}.${key}`;
      if (pattern === ABSENT) {
        if (Object.hasOwn(actual, key))
          out.push({ path: sub, expected: ABSENT, actual: actual[key], why: "must be absent" });
        continue;
      }
      if (!Object.hasOwn(actual, key)) {
        out.push({ path: sub, expected: pattern, actual: undefined, why: "missing" });
        continue;
      }
      out.push(...match(pattern, actual[key], sub));
    }
    return out;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [{ path: at, expected, actual, why: "expected an array" }];
    if (actual.length !== expected.length) {
      return [{ path: at, expected, actual, why: `expected ${expected.length} elements, got ${actual.length}` }];
    }
    return expected.flatMap((p, i) => match(p, actual[i], `${at}[${i}]`));
  }
  return literal(expected, actual, at);
}

function literal(expected: unknown, actual: unknown, at: string): Mismatch[] {
  return Object.is(expected, actual) || (expected === 0 && actual === 0)
    ? []
    : [{ path: at, expected, actual, why: "not equal" }];
}

function matchUnordered(patterns: unknown[], actual: unknown, at: string): Mismatch[] {
  if (!Array.isArray(actual)) return [{ path: at, expected: patterns, actual, why: "expected an array" }];
  const free = actual.map((_, i) => i);
  const out: Mismatch[] = [];
  for (const p of patterns) {
    const hit = free.findIndex((i) => match(p, actual[i], at).length === 0);
    if (hit < 0) out.push({ path: at, expected: p, actual, why: "no element matches" });
    else free.splice(hit, 1);
  }
  if (out.length === 0 && free.length > 0) {
    out.push({ path: at, expected: patterns, actual: free.map((i) => actual[i]), why: "unexpected extra elements" });
  }
  return out;
}

/** Key-sorted copy, so `$exact` does not depend on the serializer's key order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isPlainObject(v)) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical(v[k])]),
    );
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// The strict stdout parser

const CANONICAL_PREFIX = Buffer.from("Content-Length: ");
const CRLFCRLF = Buffer.from("\r\n\r\n");
const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface StrictSink {
  message(msg: unknown, raw: string): void;
  /** Something on stdout that is not a canonical frame; `bytes` is what was skipped to resynchronise. */
  violation(what: string, bytes: Buffer): void;
}

/**
 * Parses `Content-Length: N\r\n\r\n<N bytes>` exactly as every SDK must write it: the canonical header only (one
 * header, that spelling), a UTF-8 JSON object as the body. Anything else is reported, then skipped up to the next
 * canonical header so one stray line does not hide the rest of the conversation.
 */
export class StrictFrameParser {
  private buf: Buffer = Buffer.alloc(0);
  private readonly sink: StrictSink;

  constructor(sink: StrictSink) {
    this.sink = sink;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length === 0) return;
      if (!this.startsCanonical()) {
        if (isPrefixOf(this.buf, CANONICAL_PREFIX)) return; // a header still arriving
        this.skipToNextHeader("bytes that are not a frame");
        continue;
      }
      const headerEnd = this.buf.indexOf(CRLFCRLF);
      if (headerEnd < 0) {
        // The header has not ended yet; only digits may follow "Content-Length: " (and then \r\n\r\n).
        const tail = this.buf.subarray(CANONICAL_PREFIX.length).toString("latin1");
        if (/^\d{0,15}(\r(\n(\r)?)?)?$/.test(tail)) return;
        this.skipToNextHeader("a malformed header (only `Content-Length: N\\r\\n\\r\\n` is allowed)", 1);
        continue;
      }
      const digits = this.buf.subarray(CANONICAL_PREFIX.length, headerEnd).toString("latin1");
      if (!/^\d{1,15}$/.test(digits)) {
        this.skipToNextHeader("a malformed header (only `Content-Length: N\\r\\n\\r\\n` is allowed)", 1);
        continue;
      }
      const length = Number(digits);
      const bodyStart = headerEnd + 4;
      if (this.buf.length < bodyStart + length) return;
      const body = this.buf.subarray(bodyStart, bodyStart + length);
      this.buf = this.buf.subarray(bodyStart + length);
      this.frame(body);
    }
  }

  /** Called when stdout has closed: whatever is left is an incomplete frame. */
  end(): void {
    if (this.buf.length > 0) {
      this.sink.violation("stdout ended inside a frame (or a Content-Length larger than the body)", this.buf);
      this.buf = Buffer.alloc(0);
    }
  }

  private frame(body: Buffer): void {
    let text: string;
    try {
      text = utf8.decode(body);
    } catch {
      this.sink.violation("a frame body that is not valid UTF-8 (is Content-Length the byte length?)", body);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      // Typically a Content-Length that counts characters instead of bytes: the body is cut or overlong.
      this.sink.violation("a frame body that is not JSON (is Content-Length the byte length?)", body);
      return;
    }
    this.sink.message(msg, text);
  }

  private startsCanonical(): boolean {
    return this.buf.length >= CANONICAL_PREFIX.length && this.buf.compare(CANONICAL_PREFIX, 0, 16, 0, 16) === 0;
  }

  private skipToNextHeader(what: string, from = 0): void {
    let next = this.buf.indexOf(CANONICAL_PREFIX, from);
    if (next < 0) {
      // Keep a tail that may be the beginning of a header split across reads.
      next = this.buf.length - partialTail(this.buf, CANONICAL_PREFIX);
      if (next < from) next = this.buf.length;
    }
    this.sink.violation(what, this.buf.subarray(0, next));
    this.buf = this.buf.subarray(next);
  }
}

function isPrefixOf(buf: Buffer, of: Buffer): boolean {
  return buf.length < of.length && of.compare(buf, 0, buf.length, 0, buf.length) === 0;
}

function partialTail(buf: Buffer, of: Buffer): number {
  for (let k = Math.min(of.length - 1, buf.length); k > 0; k--) {
    if (buf.compare(of, 0, k, buf.length - k, buf.length) === 0) return k;
  }
  return 0;
}

/**
 * Checks every message against JSON-RPC 2.0 itself, whatever the vector expects. An array is a batch answer: one
 * frame holding the responses to the requests of a batch the host sent (docs/protocol.md), never empty.
 */
export function messageProblems(msg: unknown): string[] {
  if (Array.isArray(msg)) {
    if (msg.length === 0) return ["an empty array is not a batch answer"];
    return msg.flatMap((m, i) =>
      isPlainObject(m) && !("method" in m)
        ? messageProblems(m).map((p) => `batch element ${i}: ${p}`)
        : [`batch element ${i}: a batch answer holds responses only, got ${JSON.stringify(m)}`],
    );
  }
  if (!isPlainObject(msg))
    return [`a frame must hold a JSON-RPC object (or a batch answer), got ${JSON.stringify(msg)}`];
  const out: string[] = [];
  if (msg.jsonrpc !== "2.0") out.push(`"jsonrpc" must be "2.0", got ${JSON.stringify(msg.jsonrpc)}`);
  if ("method" in msg) {
    if (typeof msg.method !== "string") out.push(`"method" must be a string`);
    if ("id" in msg && typeof msg.id !== "string" && typeof msg.id !== "number") {
      out.push(`a request id must be a string or a number, got ${JSON.stringify(msg.id)}`);
    }
    return out;
  }
  if (!("id" in msg)) out.push("a response needs an id (null when it could not be read)");
  const hasResult = "result" in msg;
  const hasError = "error" in msg;
  if (hasResult === hasError) out.push("a response has exactly one of result and error");
  if (hasError) {
    const e = msg.error;
    if (!isPlainObject(e) || !Number.isInteger(e.code) || typeof e.message !== "string") {
      out.push(`"error" must be {code: integer, message: string, data?}, got ${JSON.stringify(e)}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Running one vector

/** Notifications a plugin may send at any time; they never take a place in the ordered message stream. */
const SIDE_CHANNEL = new Set(["plugin/log"]);

function frame(json: string): Buffer {
  const body = Buffer.from(json, "utf8");
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, "latin1"), body]);
}

function chunkBytes(c: Chunk): Buffer {
  return typeof c === "string" ? Buffer.from(c, "utf8") : Buffer.from(c.hex.replace(/\s+/g, ""), "hex");
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function show(v: unknown): string {
  if (v === undefined) return "(nothing)";
  const s = JSON.stringify(v);
  return s.length > 600 ? `${s.slice(0, 600)}…` : s;
}

/** One plugin process and everything it has said so far. */
class Session {
  readonly child: ChildProcess;
  /**
   * Ordered stream, not yet consumed by a step: responses, requests, notifications outside SIDE_CHANNEL and batch
   * answers (arrays).
   */
  readonly inbox: unknown[] = [];
  readonly side: Record<string, unknown>[] = [];
  stderr = "";
  exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  closed = false;
  spawnError: Error | null = null;
  private waiters = new Set<() => void>();
  private readonly parser: StrictFrameParser;

  constructor(
    command: string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
    onViolation: (what: string, bytes: Buffer) => void,
    onBadMessage: (why: string, msg: unknown) => void,
  ) {
    const [file, ...args] = command;
    if (!file) throw new Error("empty command");
    this.parser = new StrictFrameParser({
      message: (msg) => {
        const problems = messageProblems(msg);
        for (const p of problems) onBadMessage(p, msg);
        if (!isPlainObject(msg) && !Array.isArray(msg)) return;
        if (isPlainObject(msg) && typeof msg.method === "string" && !("id" in msg) && SIDE_CHANNEL.has(msg.method)) {
          this.side.push(msg);
        } else {
          this.inbox.push(msg);
        }
        this.wake();
      },
      violation: onViolation,
    });
    this.child = spawn(file, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.on("error", (e) => {
      this.spawnError = e;
      this.wake();
    });
    this.child.stdin?.on("error", () => {}); // EPIPE after the plugin exited: the steps report the exit instead
    this.child.stdout?.on("data", (b: Buffer) => this.parser.push(b));
    this.child.stdout?.on("end", () => this.parser.end());
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (s: string) => {
      this.stderr += s;
      this.wake();
    });
    this.child.on("exit", (code, signal) => {
      this.exit = { code, signal, at: performance.now() };
      this.wake();
    });
    this.child.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  wake(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves when `ready()` holds, or with false after `ms`. Checked on every event from the plugin. */
  async until(ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return true;
    return new Promise<boolean>((resolve) => {
      const check = () => {
        if (!ready()) return;
        done(true);
      };
      const timer = setTimeout(() => done(ready()), ms);
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      this.waiters.add(check);
    });
  }

  /** True once nothing more can arrive on stdout. */
  get gone(): boolean {
    return this.closed || this.spawnError !== null;
  }

  async write(data: Buffer): Promise<void> {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    await new Promise<void>((resolve) => stdin.write(data, () => resolve()));
  }

  stderrTail(): string {
    const lines = this.stderr.trimEnd().split("\n");
    return lines.slice(-15).join("\n");
  }
}

/**
 * Runs one vector against a freshly started plugin (`command` run in `cwd`, with only `env` plus PATH and HOME) and
 * returns every failure. A content mismatch does not stop the vector (the message was consumed, the conversation is
 * still in step); a missing message or a dead process does, as everything after it would fail for the same reason.
 */
export async function runVector(
  command: string[],
  cwd: string,
  vector: Vector,
  env: Record<string, string> = {},
): Promise<VectorResult> {
  const failures: Failure[] = [];
  let current = -1;
  let currentKind = "start";
  const fail = (message: string, expected?: unknown, actual?: unknown) => {
    failures.push({ vector: vector.name, step: current, kind: currentKind, message, expected, actual });
  };
  const baseEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  const s = new Session(
    command,
    cwd,
    { ...baseEnv, ...env },
    (what, bytes) =>
      failures.push({
        vector: vector.name,
        step: current,
        kind: "stdout",
        message: `stdout carried ${what}: ${show(bytes.toString("utf8").slice(0, 300))} (${bytes.length} bytes)`,
      }),
    (why, msg) =>
      failures.push({
        vector: vector.name,
        step: current,
        kind: "stdout",
        message: `invalid message: ${why}`,
        actual: msg,
      }),
  );
  const deadline = performance.now() + VECTOR_DEADLINE_MS;
  const budget = (ms: number) => Math.max(0, Math.min(ms, deadline - performance.now()));
  let lastRequest: Record<string, unknown> | undefined;

  /** Why nothing more will come, for a timeout's message. */
  const silence = (ms: number) => {
    if (s.spawnError) return `the plugin could not be started: ${s.spawnError.message}`;
    if (s.exit) return `the plugin exited (code ${s.exit.code}, signal ${s.exit.signal})`;
    return `nothing arrived within ${ms} ms`;
  };
  const next = async (ms: number): Promise<unknown> => {
    await s.until(() => s.inbox.length > 0 || s.gone, budget(ms));
    return s.inbox.shift();
  };

  try {
    steps: for (const [i, step] of vector.steps.entries()) {
      current = i;
      currentKind = stepKind(step);
      if (s.spawnError) {
        fail(`the plugin could not be started: ${s.spawnError.message}`);
        break;
      }
      const timeoutMs = "timeoutMs" in step && typeof step.timeoutMs === "number" ? step.timeoutMs : DEFAULT_EXPECT_MS;

      if ("send" in step) {
        const chunks = typeof step.send === "string" ? [step.send] : step.send;
        const pause = step.pauseMs ?? DEFAULT_PAUSE_MS;
        let pieces = chunks.map(chunkBytes);
        if (step.chunkBytes) {
          const all = Buffer.concat(pieces);
          pieces = [];
          for (let at = 0; at < all.length; at += step.chunkBytes) pieces.push(all.subarray(at, at + step.chunkBytes));
        }
        for (const [k, piece] of pieces.entries()) {
          if (k > 0) await sleep(pause);
          await s.write(piece);
        }
      } else if ("sendFrame" in step) {
        await s.write(frame(JSON.stringify(step.sendFrame)));
      } else if ("expect" in step) {
        const msg = await next(timeoutMs);
        if (msg === undefined) {
          fail(`expected a message: ${silence(timeoutMs)}`, step.expect, undefined);
          break;
        }
        const mm = match(step.expect, msg);
        if (mm.length > 0) fail(describeMismatches(mm), step.expect, msg);
        if (isPlainObject(msg) && typeof msg.method === "string" && "id" in msg) lastRequest = msg;
      } else if ("expectUnordered" in step) {
        const got: unknown[] = [];
        for (let k = 0; k < step.expectUnordered.length; k++) {
          const msg = await next(timeoutMs);
          if (msg === undefined) {
            fail(
              `expected ${step.expectUnordered.length} messages, got ${got.length}: ${silence(timeoutMs)}`,
              step.expectUnordered,
              got,
            );
            break steps;
          }
          got.push(msg);
        }
        const mm = match({ $unordered: step.expectUnordered }, got);
        if (mm.length > 0) fail(describeMismatches(mm), step.expectUnordered, got);
      } else if ("expectNotification" in step) {
        const { method, count, params } = step.expectNotification;
        for (let k = 0; k < count; k++) {
          const msg = await next(timeoutMs);
          if (msg === undefined) {
            fail(
              `expected notification ${k + 1} of ${count} '${method}': ${silence(timeoutMs)}`,
              { method, params },
              undefined,
            );
            break steps;
          }
          const want = {
            jsonrpc: "2.0",
            method,
            id: ABSENT,
            ...(params === undefined ? {} : { params: Array.isArray(params) ? params[k] : params }),
          };
          const mm = match(want, msg);
          if (mm.length > 0) fail(`notification ${k + 1} of ${count}: ${describeMismatches(mm)}`, want, msg);
        }
      } else if ("respond" in step) {
        if (!lastRequest) {
          fail("no request from the plugin to respond to");
          break;
        }
        await s.write(frame(JSON.stringify({ jsonrpc: "2.0", id: lastRequest.id, ...step.respond })));
      } else if ("expectLog" in step) {
        const want = step.expectLog;
        const pattern = { method: "plugin/log", params: want };
        const found = await s.until(
          () => s.side.some((m) => match(pattern, m).length === 0) || s.stderr.includes(want.msg),
          budget(timeoutMs),
        );
        if (!found)
          fail("no plugin/log notification nor stderr line with the message", want, {
            notifications: s.side,
            stderr: s.stderrTail(),
          });
      } else if ("expectStderr" in step) {
        const text = step.expectStderr;
        const found = await s.until(() => s.stderr.includes(text) || s.gone, budget(timeoutMs));
        if (!found || !s.stderr.includes(text)) fail("stderr does not contain the text", text, s.stderrTail());
      } else if ("expectExit" in step) {
        const { withinMs, code } = step.expectExit;
        const from = performance.now();
        await s.until(() => s.exit !== null || s.spawnError !== null, budget(withinMs));
        if (!s.exit) {
          fail(`the plugin did not exit within ${withinMs} ms`, { withinMs, code }, "still running");
          break;
        }
        const took = Math.round(s.exit.at - from);
        if (code !== undefined && s.exit.code !== code) {
          fail(
            `exit code ${s.exit.code}${s.exit.signal ? ` (signal ${s.exit.signal})` : ""}, expected ${code}`,
            { code },
            { code: s.exit.code, signal: s.exit.signal, ms: took },
          );
        }
      } else if ("closeStdin" in step) {
        s.child.stdin?.end();
      } else if ("wait" in step) {
        await sleep(budget(step.wait));
      } else {
        fail(`unknown step ${show(step)}`);
        break;
      }
    }

    // Whole-run checks: what the plugin said that no step asked for.
    current = -1;
    currentKind = "end";
    if (s.exit || s.child.stdin?.writableEnded) await s.until(() => s.gone, 1_000);
    if (!vector.allowExtraMessages) {
      for (const msg of s.inbox.splice(0)) fail("a message no step expected", undefined, msg);
    }
    // A plugin that dies after its last answer would otherwise pass every vector that ends with an `expect`.
    const exitExpected = vector.allowExit || vector.steps.some((st) => "expectExit" in st || "closeStdin" in st);
    if (s.exit && !exitExpected && !s.spawnError) {
      fail(`the plugin exited (code ${s.exit.code}, signal ${s.exit.signal}) though no step asked it to`);
    }
  } finally {
    if (!s.exit && !s.spawnError) {
      s.child.kill("SIGKILL");
      await s.until(() => s.gone, 2_000);
    }
  }
  return { vector: vector.name, ok: failures.length === 0, failures, stderr: s.stderr };
}

function describeMismatches(mm: Mismatch[]): string {
  return mm.map((m) => `${m.path}: ${m.why} (expected ${show(m.expected)}, got ${show(m.actual)})`).join("; ");
}

/** One failure as a readable block: where, what, expected and actual. */
export function formatFailure(f: Failure): string {
  const where = f.step >= 0 ? `step ${f.step} (${f.kind})` : f.kind;
  let out = `[${f.vector}] ${where}: ${f.message}`;
  if (f.expected !== undefined) out += `\n    expected: ${show(f.expected)}`;
  if (f.actual !== undefined) out += `\n    actual:   ${show(f.actual)}`;
  return out;
}

export function formatResult(r: VectorResult): string {
  if (r.ok) return `[${r.vector}] ok`;
  const tail = r.stderr.trimEnd().split("\n").slice(-10).join("\n    ");
  return `${r.failures.map(formatFailure).join("\n")}${tail ? `\n  plugin stderr (tail):\n    ${tail}` : ""}`;
}

// ---------------------------------------------------------------------------------------------------------------
// SDKs

export function loadSdks(): Record<string, SdkSpec> {
  const raw = JSON.parse(fs.readFileSync(path.join(CONFORMANCE_DIR, "sdks.json"), "utf8")) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !k.startsWith("$"))) as Record<string, SdkSpec>;
}

export function resolveSpec(spec: SdkSpec, root = REPO_ROOT): { command: string[]; env: Record<string, string> } {
  const [file, ...args] = spec.command;
  if (!file) throw new Error("an SDK spec needs a command");
  const env = Object.fromEntries(Object.entries(spec.env ?? {}).map(([k, v]) => [k, v.replaceAll("{root}", root)]));
  return { command: [file.includes("/") ? path.resolve(root, file) : file, ...args], env };
}

function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

/** Newest modification time of a file, or of any file under a folder (skipping build output). */
function newestMtime(dir: string): number {
  let newest = 0;
  try {
    const st = fs.statSync(dir);
    if (st.isFile()) return st.mtimeMs;
  } catch {
    return 0;
  }
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (["node_modules", "target", "bin", "dist", ".git", "__pycache__", ".pytest_cache"].includes(e.name)) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

/**
 * Makes sure what an SDK's command needs exists: builds it when it is missing or older than its sources and the
 * toolchain is there. Returns null when ready, else why not (naming the build script to run).
 */
export async function ensureBuilt(spec: SdkSpec, root = REPO_ROOT, timeoutMs = 15 * 60_000): Promise<string | null> {
  const required = (spec.requires ?? []).map((f) => path.resolve(root, f));
  const missing = required.filter((f) => !fs.existsSync(f));
  const oldest = missing.length > 0 ? 0 : Math.min(...required.map((f) => fs.statSync(f).mtimeMs));
  const stale = missing.length === 0 && (spec.sources ?? []).some((d) => newestMtime(path.resolve(root, d)) > oldest);
  if (missing.length === 0 && !stale) return null;
  const how = spec.build ? `run \`${spec.build.join(" ")}\`` : "build it";
  if (!spec.build || (spec.toolchain && !onPath(spec.toolchain))) {
    if (missing.length === 0) return null; // stale but cannot rebuild here: test what is there
    return `${missing.map((f) => path.relative(root, f)).join(", ")} missing: ${how}${spec.toolchain ? ` (needs ${spec.toolchain} on PATH, not found)` : ""}`;
  }
  const r = await runBuild(spec.build, root, timeoutMs);
  const stillMissing = required.filter((f) => !fs.existsSync(f));
  if (r.status !== 0 || stillMissing.length > 0) {
    const out = r.output.trimEnd().split("\n").slice(-30).join("\n");
    const why =
      r.status === 0 ? `it did not produce ${stillMissing.map((f) => path.relative(root, f)).join(", ")}` : r.status;
    return `building failed (${why}): ${how} and fix the errors\n${out}`;
  }
  return null;
}

/**
 * Runs a build without blocking the event loop (a first cargo build takes minutes, and a test worker that does not
 * answer its runner for that long is declared dead). Its own process group, so a timeout stops cargo/go as well.
 */
function runBuild(argv: string[], cwd: string, timeoutMs: number): Promise<{ status: string | 0; output: string }> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    let output = "";
    const child = spawn(cmd ?? "false", args, {
      cwd,
      env: process.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (b: Buffer) => {
      output = (output + b.toString("utf8")).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ status: e.message, output });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        status: code === 0 ? 0 : signal ? `killed by ${signal} after ${timeoutMs} ms` : `exit ${code}`,
        output,
      });
    });
  });
}

export interface SuiteResult {
  sdk: string;
  ok: boolean;
  results: VectorResult[];
}

/**
 * Runs every vector (or those named in `only`) against an SDK: a name from sdks.json or a spec. `concurrency` plugins
 * run at once; the vectors measure exits within a second, so keep it low on small machines.
 */
export async function runSuite(
  sdk: string | SdkSpec,
  opts: { only?: string[]; concurrency?: number; root?: string } = {},
): Promise<SuiteResult> {
  const root = opts.root ?? REPO_ROOT;
  const name = typeof sdk === "string" ? sdk : sdk.command.join(" ");
  const spec = typeof sdk === "string" ? loadSdks()[sdk] : sdk;
  if (!spec) throw new Error(`no SDK '${String(sdk)}' in conformance/sdks.json`);
  const vectors = loadVectors().filter((v) => !opts.only || opts.only.includes(v.name));
  const notReady = await ensureBuilt(spec, root);
  if (notReady) {
    const results = vectors.map((v) => ({
      vector: v.name,
      ok: false,
      stderr: "",
      failures: [{ vector: v.name, step: -1, kind: "build", message: notReady }],
    }));
    return { sdk: name, ok: false, results };
  }
  const { command, env } = resolveSpec(spec, root);
  const results: VectorResult[] = new Array(vectors.length);
  let nextIndex = 0;
  const worker = async () => {
    for (;;) {
      const i = nextIndex++;
      const v = vectors[i];
      if (!v) return;
      results[i] = await runVector(command, root, v, env);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, worker));
  return { sdk: name, ok: results.every((r) => r.ok), results };
}
