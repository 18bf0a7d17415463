// A deliberately BROKEN conformance plugin, used by conformance/driver.test.ts to prove the driver catches breakage.
// It is self-contained (no @plugd/sdk) so the driver's test does not depend on any SDK's state, and it is correct in
// everything except three deliberate faults, each of which exactly one vector must catch:
//   1. `noise` writes to the real stdout (an SDK must route print output to stderr)     → vector `noise`
//   2. an unknown entry is answered -32601 instead of 1001 ENTRY_NOT_FOUND              → vector `unknown-entry`
//   3. `$/cancelRequest` is ignored, so a cancelled `slow` runs to its end              → vector `slow-cancel`
import process from "node:process";

const send = (msg) => {
  const body = Buffer.from(JSON.stringify(msg), "utf8");
  process.stdout.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
};
const ok = (id, result) => ({ jsonrpc: "2.0", id, result });
const err = (id, code, message, data) => ({
  jsonrpc: "2.0",
  id,
  error: data === undefined ? { code, message } : { code, message, data },
});
const notify = (method, params) => send({ jsonrpc: "2.0", method, params });

let nextHostId = 1;
const waitingOnHost = new Map();
const hostCall = (method, params) =>
  new Promise((resolve, reject) => {
    const id = `p${nextHostId++}`;
    waitingOnHost.set(id, { resolve, reject });
    send({ jsonrpc: "2.0", id, method, params });
  });

const entries = {
  echo: (input) => input,
  progress: (input, runId) => {
    const n = input.steps;
    for (let i = 1; i <= n; i++) {
      notify("run/progress", { runId, progress: i / n, step: i, stepTotal: n, message: `step ${i}` });
    }
    notify("run/output", { runId, chunk: "done\n" });
    return { steps: n };
  },
  fail: (input) => {
    throw Object.assign(new Error(input.message), { rpc: { code: 1013, data: { code: input.code } } });
  },
  // Fault 3: no cancellation check at all.
  slow: async (input) => {
    await new Promise((r) => setTimeout(r, input.ms));
    return { slept: input.ms };
  },
  export: (_input, runId) => {
    notify("run/export", { runId, type: "text", label: "t", data: "hello" });
    notify("run/export", { runId, type: "json", label: "j", data: { a: 1 } });
    return { exports: 2 };
  },
  call: async (input, runId) => ({
    result: await hostCall("host/call", {
      plugin: input.plugin,
      entry: input.entry,
      input: input.input,
      parentRunId: runId,
    }),
  }),
  // Fault 1: straight to stdout, between the frames.
  noise: () => {
    process.stdout.write("noise to stdout\n");
    return { ok: true };
  },
  log: () => {
    notify("plugin/log", { level: "info", msg: "hello log" });
    return { ok: true };
  },
};

const schemas = {
  echo: { type: "object" },
  progress: { type: "object", properties: { steps: { type: "integer" } }, required: ["steps"] },
};

/** The answer to one request. */
async function answerRequest(msg) {
  const { id, method, params } = msg;
  switch (method) {
    case "plugin/handshake": {
      const major = String(params?.protocolVersion ?? "").split(".")[0];
      if (major !== "1") {
        return err(id, 1011, `protocol ${params?.protocolVersion} is not 1.x`, { code: "VERSION_MISMATCH" });
      }
      return ok(id, {
        protocolVersion: "1.0",
        name: "conformance",
        version: "0.0.0",
        sdk: { name: "broken", version: "0.0.0" },
        entries: Object.keys(entries).map((e) => (schemas[e] ? { id: e, inputSchema: schemas[e] } : { id: e })),
        capabilities: ["cancel", "progress", "output", "export", "log", "reverse-rpc"],
      });
    }
    case "plugin/health":
      return ok(id, { status: "ok" });
    case "plugin/shutdown":
      setTimeout(() => process.exit(0), 10);
      return ok(id, {});
    case "plugin/invoke": {
      const fn = Object.hasOwn(entries, params?.entry) ? entries[params.entry] : undefined;
      // Fault 2: the wrong code for an unknown entry.
      if (!fn) return err(id, -32601, `no entry ${params?.entry}`);
      try {
        return ok(id, { output: await fn(params.input ?? {}, params.runId) });
      } catch (e) {
        return err(id, e.rpc?.code ?? 1013, e.message, e.rpc?.data ?? { code: "ENTRY_FAILED" });
      }
    }
    default:
      return err(id, -32601, `method not found: ${method}`);
  }
}

/** The answer to one message of a frame (or of a batch), or undefined for notifications and responses. */
async function answer(msg) {
  if (typeof msg !== "object" || msg === null || Array.isArray(msg) || msg.jsonrpc !== "2.0") {
    return err(null, -32600, "invalid request");
  }
  if (msg.method === undefined && ("result" in msg || "error" in msg)) {
    const w = waitingOnHost.get(msg.id);
    waitingOnHost.delete(msg.id);
    if (w) "error" in msg ? w.reject(new Error(msg.error.message)) : w.resolve(msg.result);
    return undefined;
  }
  if (typeof msg.method !== "string") return err(typeof msg.id === "number" ? msg.id : null, -32600, "bad method");
  if (msg.id === undefined) return undefined; // notifications, including $/cancelRequest (fault 3)
  return answerRequest(msg);
}

async function handle(body) {
  let msg;
  try {
    msg = JSON.parse(body);
  } catch {
    return send(err(null, -32700, "parse error"));
  }
  if (!Array.isArray(msg)) {
    const a = await answer(msg);
    if (a) send(a);
    return;
  }
  if (msg.length === 0) return send(err(null, -32600, "empty batch"));
  const answers = (await Promise.all(msg.map(answer))).filter(Boolean);
  if (answers.length > 0) send(answers);
}

// A small but correct LSP-style reader: case-insensitive headers, extra headers, resync over garbage.
let buf = Buffer.alloc(0);
process.stdin.on("data", (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  for (;;) {
    // A Content-Type line before Content-Length belongs to the same header block; skipping it as garbage is fine.
    const m = /content-length:[ \t]*(\d+)[^\n]*\r\n(?:[A-Za-z0-9-]+:[^\r\n]*\r\n)*\r\n/i.exec(buf.toString("latin1"));
    if (!m) return;
    const start = m.index + m[0].length;
    const length = Number(m[1]);
    if (buf.length < start + length) return;
    const body = buf.subarray(start, start + length).toString("utf8");
    buf = buf.subarray(start + length);
    void handle(body);
  }
});
process.stdin.on("end", () => process.exit(0));
