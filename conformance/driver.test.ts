/**
 * Tests of the conformance driver itself: a suite that passes everything proves nothing unless it is shown to fail
 * on a plugin that breaks the rules. `plugins/broken` breaks exactly three of them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  ensureBuilt,
  type Failure,
  formatResult,
  loadVectors,
  match,
  messageProblems,
  REPO_ROOT,
  runSuite,
  runVector,
  type Step,
  StrictFrameParser,
  stepKind,
  VECTORS_DIR,
} from "./driver.js";

const frame = (json: string) => `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;

function parse(chunks: (string | Buffer)[]): { messages: unknown[]; violations: string[] } {
  const messages: unknown[] = [];
  const violations: string[] = [];
  const p = new StrictFrameParser({
    message: (m) => messages.push(m),
    violation: (what, bytes) => violations.push(`${what}: ${bytes.toString("utf8")}`),
  });
  for (const c of chunks) p.push(typeof c === "string" ? Buffer.from(c, "utf8") : c);
  p.end();
  return { messages, violations };
}

describe("match", () => {
  it("matches objects as subsets and arrays element-wise", () => {
    expect(match({ a: 1 }, { a: 1, b: 2 })).toEqual([]);
    expect(match({ a: { b: [1, { c: 2 }] } }, { a: { b: [1, { c: 2, d: 3 }] } })).toEqual([]);
    expect(match([1, 2], [1, 2, 3])[0]?.why).toMatch(/2 elements, got 3/);
    expect(match({ a: 1 }, { a: "1" })[0]?.path).toBe("$.a");
    expect(match({ a: 1 }, {})[0]?.why).toBe("missing");
    expect(match({ id: null }, { id: 0 })).toHaveLength(1);
  });

  it("understands placeholders and operators", () => {
    expect(
      match(
        { a: "$any", b: "$string", c: "$number", d: "$integer", e: "$id" },
        { a: null, b: "", c: 1.5, d: 2, e: "x" },
      ),
    ).toEqual([]);
    expect(match("$integer", 1.5)).toHaveLength(1);
    expect(match("$nonEmptyString", "")).toHaveLength(1);
    expect(match({ a: "$absent" }, { b: 1 })).toEqual([]);
    expect(match({ a: "$absent" }, { a: 1 })[0]?.why).toBe("must be absent");
    expect(match("$$literal", "$literal")).toEqual([]);
    expect(match({ $regex: "^1\\.\\d+$" }, "1.0")).toEqual([]);
    expect(match({ $regex: "^1\\.\\d+$" }, "2.0")).toHaveLength(1);
    expect(match({ $exact: { a: 1, b: 2 } }, { b: 2, a: 1 })).toEqual([]);
    expect(match({ $exact: { a: 1 } }, { a: 1, b: 2 })).toHaveLength(1);
    expect(match({ $oneOf: [{ $exact: {} }, null] }, null)).toEqual([]);
    expect(match({ $oneOf: [{ $exact: {} }, null] }, { x: 1 })).toHaveLength(1);
    expect(match("$nope", 1)[0]?.why).toMatch(/unknown placeholder/);
  });

  it("matches $unordered as a permutation of the same length", () => {
    const pats = { $unordered: [{ id: "a" }, { id: "b" }] };
    expect(match(pats, [{ id: "b" }, { id: "a", x: 1 }])).toEqual([]);
    expect(match(pats, [{ id: "a" }, { id: "a" }])[0]?.why).toBe("no element matches");
    expect(match(pats, [{ id: "a" }, { id: "b" }, { id: "c" }])[0]?.why).toBe("unexpected extra elements");
  });
});

describe("StrictFrameParser", () => {
  const a = JSON.stringify({ jsonrpc: "2.0", id: 1, result: { s: "日本 🎉" } });
  const b = JSON.stringify({ jsonrpc: "2.0", method: "run/output", params: { chunk: "x" } });

  it("reads frames split anywhere, byte by byte, and several per chunk", () => {
    const bytes = Buffer.from(frame(a) + frame(b), "utf8");
    const split = [...bytes].map((x) => Buffer.from([x]));
    expect(parse(split)).toEqual({ messages: [JSON.parse(a), JSON.parse(b)], violations: [] });
    expect(parse([frame(a) + frame(b)]).messages).toHaveLength(2);
  });

  it("reports bytes that are not a frame, then carries on with the next frame", () => {
    const r = parse([`noise to stdout\n${frame(a)}more noise`, frame(b)]);
    expect(r.messages).toEqual([JSON.parse(a), JSON.parse(b)]);
    expect(r.violations).toEqual([
      "bytes that are not a frame: noise to stdout\n",
      "bytes that are not a frame: more noise",
    ]);
  });

  it("reports noise split across chunks even when it looks like the start of a header", () => {
    const r = parse(["Content-Le", "ngth: x\r\n\r\n", frame(a)]);
    expect(r.messages).toEqual([JSON.parse(a)]);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toMatch(/malformed header/);
  });

  it("reports headers that are not canonical (case, extra headers)", () => {
    const lower = `content-length: ${Buffer.byteLength(a)}\r\n\r\n${a}`;
    const extra = `Content-Length: ${Buffer.byteLength(a)}\r\nContent-Type: application/json\r\n\r\n${a}`;
    expect(parse([lower]).violations).not.toEqual([]);
    expect(parse([extra]).violations[0]).toMatch(/malformed header/);
  });

  it("reports a Content-Length that counts characters instead of bytes", () => {
    const wrong = `Content-Length: ${a.length}\r\n\r\n${a}`; // too short: cuts the body
    const r = parse([wrong]);
    expect(r.messages).toEqual([]);
    expect(r.violations[0]).toMatch(/is Content-Length the byte length\?/);
  });

  it("reports a frame cut off at the end of stdout", () => {
    expect(parse([frame(a).slice(0, 30)]).violations[0]).toMatch(/ended inside a frame/);
  });

  it("reports bodies that are not valid UTF-8", () => {
    const body = Buffer.from([0x7b, 0xff, 0x7d]);
    const r = parse([Buffer.concat([Buffer.from("Content-Length: 3\r\n\r\n"), body])]);
    expect(r.violations[0]).toMatch(/not valid UTF-8/);
  });
});

describe("messageProblems", () => {
  it("accepts JSON-RPC 2.0 messages and names what is wrong with others", () => {
    expect(messageProblems({ jsonrpc: "2.0", id: 1, result: null })).toEqual([]);
    expect(messageProblems({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "x" } })).toEqual([]);
    expect(messageProblems({ jsonrpc: "2.0", method: "run/output", params: {} })).toEqual([]);
    // A batch answer is an array of responses, never empty, never holding requests or notifications.
    expect(messageProblems([{ jsonrpc: "2.0", id: 1, result: 1 }])).toEqual([]);
    expect(messageProblems([])[0]).toMatch(/empty array/);
    expect(messageProblems([{ jsonrpc: "2.0", method: "run/output" }])[0]).toMatch(/responses only/);
    expect(messageProblems(42)[0]).toMatch(/JSON-RPC object/);
    expect(messageProblems({ id: 1, result: 1 })[0]).toMatch(/jsonrpc/);
    expect(messageProblems({ jsonrpc: "2.0", id: 1, result: 1, error: { code: 1, message: "" } })[0]).toMatch(
      /exactly one/,
    );
    expect(messageProblems({ jsonrpc: "2.0", id: 1, error: { code: "E", message: "x" } })[0]).toMatch(/"error"/);
  });
});

describe("the vectors", () => {
  const vectors = loadVectors();
  const known = new Set([
    "send",
    "sendFrame",
    "expect",
    "expectUnordered",
    "expectNotification",
    "respond",
    "expectLog",
    "expectStderr",
    "expectExit",
    "closeStdin",
    "wait",
  ]);

  it("all load, and use only known steps", () => {
    expect(vectors.length).toBeGreaterThanOrEqual(25);
    for (const v of vectors) {
      expect(v.steps.length, v.name).toBeGreaterThan(0);
      for (const s of v.steps) expect(known.has(stepKind(s)), `${v.name}: ${JSON.stringify(s)}`).toBe(true);
    }
  });

  it("raw `send` frames announce their true byte length", () => {
    // A typo in a hand-written Content-Length would make a vector test the wrong thing; catch it here. Every header
    // found must be followed by exactly that many bytes and then the end of the write or the next header.
    for (const v of vectors) {
      for (const s of v.steps as Step[]) {
        if (!("send" in s)) continue;
        const chunks = typeof s.send === "string" ? [s.send] : s.send;
        const data = Buffer.concat(
          chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : Buffer.from(c.hex.replace(/\s+/g, ""), "hex"))),
        );
        const text = data.toString("latin1");
        const re = /content-length: (\d+)\r\n(?:[a-z-]+:[^\r\n]*\r\n)*\r\n/gi;
        let m = re.exec(text);
        expect(m, `${v.name}: a send without a frame`).not.toBeNull();
        for (; m; m = re.exec(text)) {
          const end = m.index + m[0].length + Number(m[1]);
          const body = data.subarray(m.index + m[0].length, end).toString("utf8");
          const after = text.slice(end, end + 32);
          expect(end <= data.length, `${v.name}: frame longer than the write`).toBe(true);
          expect(/^([}\]]|\d)/.test(body.slice(-1)), `${v.name}: body '${body}' does not end like JSON`).toBe(true);
          expect(after === "" || /^(content-|oops)/i.test(after), `${v.name}: '${after}' follows a frame`).toBe(true);
        }
      }
    }
  });

  it("are named after their files", () => {
    const files = fs.readdirSync(VECTORS_DIR).filter((f) => f.endsWith(".json"));
    expect(vectors.map((v) => `${v.name}.json`).sort()).toEqual(files.sort());
  });
});

describe("the driver against a broken plugin", () => {
  const broken = { command: ["node", "conformance/plugins/broken/index.mjs"] };

  it("reports failures for exactly the three vectors the plugin breaks", async () => {
    const suite = await runSuite(broken, { concurrency: 4 });
    const failing = suite.results.filter((r) => !r.ok);
    const byVector = new Map(failing.map((r) => [r.vector, r.failures]));
    // Everything else passes: the broken plugin is otherwise correct, so a failure elsewhere is a driver bug.
    expect([...byVector.keys()].sort(), failing.map(formatResult).join("\n")).toEqual([
      "noise",
      "slow-cancel",
      "unknown-entry",
    ]);
    expect(suite.ok).toBe(false);

    const noise = byVector.get("noise") ?? [];
    expect(noise.some((f) => f.kind === "stdout" && f.message.includes("noise to stdout"))).toBe(true);

    const entry = (byVector.get("unknown-entry") ?? [])[0] as Failure;
    expect(entry.step).toBeGreaterThan(0);
    expect(entry.kind).toBe("expect");
    expect(entry.message).toContain("$.error.code");
    expect(entry.expected).toMatchObject({ error: { code: 1001 } });
    expect(entry.actual).toMatchObject({ id: 2, error: { code: -32601 } });
    expect(formatResult(failing.find((r) => r.vector === "unknown-entry")!)).toMatch(
      /\[unknown-entry\] step \d+ \(expect\):[\s\S]*expected: [\s\S]*actual: /,
    );

    const cancel = (byVector.get("slow-cancel") ?? [])[0] as Failure;
    expect(cancel.kind).toBe("expect");
    expect(cancel.message).toMatch(/nothing arrived within 1000 ms/);
  }, 60_000);

  it("reports a plugin that cannot be started", async () => {
    const [vector] = loadVectors().filter((v) => v.name === "health");
    const r = await runVector([path.join(REPO_ROOT, "conformance/plugins/no-such-binary")], REPO_ROOT, vector!);
    expect(r.ok).toBe(false);
    expect(r.failures[0]?.message).toMatch(/could not be started/);
  });

  it("reports a plugin that exits early, with the exit code", async () => {
    const [vector] = loadVectors().filter((v) => v.name === "health");
    const r = await runVector(["node", "-e", "process.exit(3)"], REPO_ROOT, vector!);
    expect(r.failures[0]?.message).toMatch(/exited \(code 3/);
  });

  it("fails (not skips) an SDK whose binary is missing and cannot be built, naming the build script", async () => {
    const why = await ensureBuilt({
      command: ["conformance/plugins/nope/bin/conformance"],
      requires: ["conformance/plugins/nope/bin/conformance"],
      build: ["sh", "conformance/plugins/nope/build.sh"],
      toolchain: "no-such-toolchain-for-plugd",
    });
    expect(why).toMatch(/missing: run `sh conformance\/plugins\/nope\/build\.sh`/);
    expect(why).toMatch(/needs no-such-toolchain-for-plugd/);
  });

  it("builds what is missing when the toolchain is there, then reports ready", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-conformance-"));
    try {
      const spec = {
        command: ["out/plugin"],
        requires: ["out/plugin"],
        build: ["sh", "-c", "mkdir out && touch out/plugin"],
        toolchain: "sh",
      };
      expect(await ensureBuilt(spec, root)).toBeNull();
      expect(fs.existsSync(path.join(root, "out/plugin"))).toBe(true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("fails with the build's output when the build breaks", async () => {
    const why = await ensureBuilt({
      command: ["conformance/plugins/nope/bin/conformance"],
      requires: ["conformance/plugins/nope/bin/conformance"],
      build: ["sh", "-c", "echo 'main.go:3: undefined: plugd' >&2; exit 2"],
      toolchain: "sh",
    });
    expect(why).toMatch(/building failed \(exit 2\)/);
    expect(why).toContain("main.go:3: undefined: plugd");
  });
});
