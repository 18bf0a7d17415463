// The message plane (ZeroMQ RPC / INGEST over the bus) beside raw ZeroMQ doing the same transport work, in the same run:
//   ingest:  records/s through PUSH → PULL → msgpack decode → bus.publishMany (persistence on), batched (256 records
//            a frame, the reference's batcher size) and unbatched (one record a frame), beside a raw PULL that only
//            counts the very same frames.
//   rpc:     bus.get_recent / bus.query req/s and p50/p99 latency with several DEALER clients, each with a window of
//            requests in flight, beside a raw ROUTER that answers each request with a ready-made frame as large as
//            the plane's reply (so both move the same bytes; only decoding, the bus and encoding differ).
// Clients run in a child process (this file with --client), so client and server do not share an event loop; on a
// 2-core machine they do share the CPU, equally for the plane and its baseline. The ratio is plane ÷ raw.
// Usage: node bench/message-plane.mjs [--quick]   (build first: it imports packages/server/dist)
import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Packr, Unpackr } from "msgpackr";
import { Dealer, Pull, Push, Router } from "zeromq";

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const here = fileURLToPath(import.meta.url);
const quick = process.argv.includes("--quick");
const fmt = (n) => Math.round(n).toLocaleString("en-US");
const ms = (x) => `${x.toFixed(3)} ms`;
const sleep = (t) => new Promise((r) => setTimeout(r, t));

/**
 * The receive loop used on every side here (clients and raw baselines), the same technique as the plane's
 * receive-loop.ts: drain with receiveTimeout 0, block only when the queue is empty, yield every 256 messages.
 */
async function drain(sock, onMsg) {
  sock.receiveTimeout = 0;
  for (;;) {
    let n = 0;
    try {
      for (; n < 256; n++) onMsg(await sock.receive());
    } catch (err) {
      if (sock.closed) return;
      if (err.code !== "EAGAIN") throw err;
      try {
        sock.receiveTimeout = -1;
        const m = await sock.receive();
        sock.receiveTimeout = 0;
        onMsg(m);
      } catch (e) {
        if (sock.closed) return;
        throw e;
      }
      continue;
    }
    await new Promise((r) => setImmediate(r));
  }
}

const record = (i) => ({
  store: "messages",
  topic: "all",
  payload: {
    plugin_id: `plugin-${i % 8}`,
    source: "bench",
    message_type: "text",
    priority: i % 5,
    content: `hello from the bench, message ${i}`,
    i,
  },
});

// ------------------------------------------------------------------------------------------------ client role

async function ingestClient({ endpoint, total, batch }) {
  const push = new Push({ sendHighWaterMark: 1000, linger: 5000 });
  push.connect(endpoint);
  const frames = [];
  for (let i = 0; i < total; i += batch) {
    const items = [];
    for (let j = i; j < Math.min(total, i + batch); j++) items.push(record(j));
    frames.push(packr.pack({ items }));
  }
  process.send({ ready: true });
  await new Promise((r) => process.once("message", r));
  for (const f of frames) await push.send(f);
  process.send({ sent: frames.length });
  await new Promise((r) => process.once("message", r));
  push.close();
}

async function rpcClient({ endpoint, clients, window, seconds, request }) {
  // A few hundred distinct request frames (distinct req_ids), encoded up front so the client spends its CPU on the
  // transport. Replies come back in order per DEALER, so latency is matched FIFO without decoding every reply;
  // every 1000th reply is decoded and checked.
  const socks = [];
  for (let c = 0; c < clients; c++) {
    const d = new Dealer({ sendTimeout: 0, sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000, linger: 0 });
    d.connect(endpoint);
    const reqs = [];
    for (let i = 0; i < 256; i++)
      reqs.push(packr.pack({ v: 1, op: request.op, req_id: `c${c}-${i}`, args: request.args }));
    socks.push({ c, d, reqs, sent: 0, done: 0, times: [], lat: [] });
  }
  await sleep(200);
  process.send({ ready: true });
  await new Promise((r) => process.once("message", r));
  const end = performance.now() + seconds * 1000;
  let bad = 0;
  await Promise.all(
    socks.map(
      (s) =>
        new Promise((resolve) => {
          const send = () => {
            s.times.push(performance.now());
            s.d.send(s.reqs[s.sent++ % s.reqs.length]);
          };
          for (let i = 0; i < window; i++) send();
          drain(s.d, ([reply]) => {
            const now = performance.now();
            s.lat.push(now - s.times[s.done]);
            if (s.done % 1000 === 0) {
              const m = unpackr.unpack(reply);
              if (!m.ok || (m.req_id !== "x" && m.req_id !== `c${s.c}-${s.done % s.reqs.length}`)) bad++;
            }
            s.done++;
            if (now < end) send();
            else if (s.done === s.sent) {
              s.d.close();
              resolve();
            }
          }).catch(() => {});
        }),
    ),
  );
  const lat = socks.flatMap((s) => s.lat).sort((a, b) => a - b);
  const done = socks.reduce((a, s) => a + s.done, 0);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))] ?? 0;
  process.send({ done, bad, p50: pct(50), p99: pct(99) });
}

if (process.argv.includes("--client")) {
  const job = JSON.parse(process.argv[process.argv.indexOf("--client") + 1]);
  await (job.kind === "ingest" ? ingestClient(job) : rpcClient(job));
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------ server role

function client(job) {
  const child = fork(here, ["--client", JSON.stringify(job)], { stdio: "inherit" });
  const next = () => new Promise((r) => child.once("message", r));
  return { child, next, go: () => child.send("go") };
}

const { createBus } = await import("../packages/server/dist/bus/index.js");
const { startMessagePlane } = await import("../packages/server/dist/message-plane/index.js");

/** Ingest through the plane; returns records/s. */
async function planeIngest(total, batch) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-bench-mp-"));
  const bus = createBus({ dataDir: dir, limits: { maxRecordsPerTopic: 10_000 } });
  const mp = await startMessagePlane(bus, { rpcPort: 0, pubPort: 0, ingestPort: 0 });
  const c = client({ kind: "ingest", endpoint: mp.endpoints.ingest, total, batch });
  await c.next();
  // From the go to the last record in the bus; polled every millisecond (a few ms on a run of a second or more).
  const t0 = performance.now();
  c.go();
  for (;;) {
    const s = mp.stats().ingest;
    if (s.accepted + s.badItems + Object.values(s.refused).reduce((a, b) => a + b, 0) >= total) break;
    await sleep(1);
  }
  const t = performance.now() - t0;
  const st = mp.stats().ingest;
  await c.next();
  c.go();
  await mp.close();
  await bus.close();
  const bstats = bus.stats();
  fs.rmSync(dir, { recursive: true, force: true });
  if (st.accepted !== total) console.log(`  !! accepted ${st.accepted} of ${total}`, st);
  return { rate: (total / t) * 1000, persisted: bstats.persistedRecords, flushes: bstats.flushes };
}

/** The same frames into a raw PULL that only counts them (records/s, computed from the frames' record counts). */
async function rawIngest(total, batch) {
  const pull = new Pull({ receiveHighWaterMark: 10_000, linger: 0 });
  await pull.bind("tcp://127.0.0.1:*");
  const c = client({ kind: "ingest", endpoint: pull.lastEndpoint, total, batch });
  await c.next();
  const frames = Math.ceil(total / batch);
  let n = 0;
  const t0 = performance.now();
  c.go();
  let t1 = 0;
  await new Promise((resolve) => {
    drain(pull, () => {
      if (++n === frames) {
        t1 = performance.now();
        resolve();
      }
    }).catch(() => {});
  });
  const t = t1 - t0;
  await c.next();
  c.go();
  pull.close();
  return { rate: (total / t) * 1000 };
}

async function runRpcClient(endpoint, request, { clients, window, seconds }) {
  const c = client({ kind: "rpc", endpoint, clients, window, seconds, request });
  await c.next();
  const t0 = performance.now();
  c.go();
  const r = await c.next();
  const t = performance.now() - t0;
  return { ...r, rate: (r.done / t) * 1000 };
}

/** One request to the plane: the size of its reply, so the raw baseline can move as many bytes. */
async function replySize(endpoint, request) {
  const d = new Dealer({ linger: 0 });
  d.connect(endpoint);
  await d.send(packr.pack({ v: 1, op: request.op, req_id: "probe", args: request.args }));
  const [reply] = await d.receive();
  d.close();
  const m = unpackr.unpack(reply);
  if (!m.ok) throw new Error(`${request.op} failed: ${JSON.stringify(m.error)}`);
  return reply.length;
}

/** A raw ROUTER answering every request with a ready-made frame of the plane's reply size: transport only. */
async function rawEcho(request, opts, bytes) {
  const router = new Router({ sendTimeout: 0, linger: 0, receiveHighWaterMark: 100_000, sendHighWaterMark: 100_000 });
  await router.bind("tcp://127.0.0.1:*");
  const reply = packr.pack({ v: 1, req_id: "x", ok: true, result: { pad: Buffer.alloc(Math.max(0, bytes - 40)) } });
  drain(router, (f) => router.send([f[0], reply]).catch(() => {})).catch(() => {});
  const r = await runRpcClient(router.lastEndpoint, request, opts);
  router.close();
  return r;
}

const line = (label, plane, raw, unit) =>
  console.log(
    `${label.padEnd(34)} plane ${fmt(plane).padStart(9)} ${unit}   raw ${fmt(raw).padStart(9)} ${unit}   ratio ${(plane / raw).toFixed(2)}`,
  );

console.log(`message plane bench (${quick ? "quick" : "full"}), node ${process.version}, ${os.cpus().length} cpus`);

// ---- ingest
const batchedTotal = quick ? 200_000 : 1_000_000;
const unbatchedTotal = quick ? 50_000 : 200_000;
{
  const raw = await rawIngest(batchedTotal, 256);
  const plane = await planeIngest(batchedTotal, 256);
  line(`ingest batched (256/frame, ${fmt(batchedTotal)})`, plane.rate, raw.rate, "msg/s");
  console.log(`${"".padEnd(34)} persisted ${fmt(plane.persisted)} records in ${plane.flushes} flushes`);
}
{
  const raw = await rawIngest(unbatchedTotal, 1);
  const plane = await planeIngest(unbatchedTotal, 1);
  line(`ingest unbatched (1/frame, ${fmt(unbatchedTotal)})`, plane.rate, raw.rate, "msg/s");
}

// ---- rpc
{
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugd-bench-mp-"));
  const bus = createBus({ dataDir: dir });
  for (let i = 0; i < 10_000; i++) {
    const r = record(i);
    bus.publish({
      store: "messages",
      topic: "all",
      plugin_id: r.payload.plugin_id,
      source: "bench",
      type: "text",
      priority: r.payload.priority,
      payload: r.payload,
    });
  }
  const mp = await startMessagePlane(bus, { rpcPort: 0, pubPort: 0, ingestPort: 0 });
  const opts = { clients: 4, window: 32, seconds: quick ? 1 : 3 };
  const requests = [
    ["bus.get_recent limit 10", { op: "bus.get_recent", args: { store: "messages", topic: "all", limit: 10 } }],
    ["bus.get_recent limit 100", { op: "bus.get_recent", args: { store: "messages", topic: "all", limit: 100 } }],
    [
      "bus.query plugin_id+priority, 10",
      { op: "bus.query", args: { store: "messages", plugin_id: "plugin-3", priority_min: 3, limit: 10 } },
    ],
  ];
  console.log(`rpc: ${opts.clients} DEALER clients × ${opts.window} in flight, ${opts.seconds} s each`);
  for (const [label, request] of requests) {
    const bytes = await replySize(mp.endpoints.rpc, request);
    const raw = await rawEcho(request, opts, bytes);
    const plane = await runRpcClient(mp.endpoints.rpc, request, opts);
    line(`${label} (${fmt(bytes)} B)`, plane.rate, raw.rate, "req/s");
    console.log(
      `${"".padEnd(34)} p50 ${ms(plane.p50)} p99 ${ms(plane.p99)}   raw p50 ${ms(raw.p50)} p99 ${ms(raw.p99)}` +
        (plane.bad ? `   !! ${plane.bad} bad replies` : ""),
    );
  }
  await mp.close();
  await bus.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
