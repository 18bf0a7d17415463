import { Pull } from "zeromq";
import type { LocalBus } from "../bus/bus.js";
import { type PublishInput, type PublishResult, STORE_NAMES, type StoreName } from "../bus/types.js";
import { unpackr } from "./codec.js";
import { isPlainObject } from "./envelope.js";
import { type PlaneLogger, RateLimitedWarn } from "./log.js";
import { receiveLoop } from "./receive-loop.js";
import { blankInput, fillFromItem, fillInput, normalizePayload } from "./records.js";
import { releaseSocket } from "./release.js";
import type { MessagePlaneSettings } from "./settings.js";

export interface IngestStats {
  frames: number;
  accepted: number;
  /** Frames that could not be read at all (not msgpack, not a batch, too large, multipart). */
  malformed: number;
  /** Items of readable frames that were not records (no store, no topic, not a map). */
  badItems: number;
  /** Records the bus refused, by code (PAYLOAD_TOO_LARGE, TOO_MANY_TOPICS, …). */
  refused: Record<string, number>;
}

type IngestBus = Pick<LocalBus, "publishMany"> & Partial<Pick<LocalBus, "clearTopic">>;

/**
 * INGEST on a PULL socket: msgpack frames, never answered (reference §5.2). A frame is
 *   - a delta batch: `{items:[{store|bus, topic, payload}…]}`, or just the array of items;
 *   - a snapshot: `{kind:"snapshot", store|bus, topic="snapshot.all", mode:"replace"|"append", items:[payload…]}`;
 *   - a single item `{store, topic, payload}`.
 * A batch goes to the bus in one publishMany, with the frame size as the bound of every payload's size so the
 * bus can skip re-measuring each one. Whatever cannot be used is counted (stats) and logged at a limited rate;
 * no frame can stop the loop.
 */
export class IngestServer {
  private readonly sock: Pull;
  private readonly warn: RateLimitedWarn;
  private readonly counters = { frames: 0, accepted: 0, malformed: 0, badItems: 0 };
  private readonly refused = new Map<string, number>();
  /** Inputs reused from frame to frame: publishMany copies what it keeps, so none outlives the call. */
  private readonly pool: PublishInput[] = [];
  private readonly batch: PublishInput[] = [];

  private input(i: number): PublishInput {
    let x = this.pool[i];
    if (!x) {
      x = blankInput();
      this.pool.push(x);
    }
    return x;
  }

  constructor(
    private readonly bus: IngestBus,
    private readonly settings: MessagePlaneSettings,
    private readonly log: PlaneLogger,
  ) {
    this.warn = new RateLimitedWarn(log);
    this.sock = new Pull({
      linger: 0,
      receiveHighWaterMark: settings.ingestReceiveHwm,
      maxMessageSize: settings.maxIngestFrameBytes,
    });
  }

  async bind(endpoint: string): Promise<string> {
    await this.sock.bind(endpoint);
    void this.loop();
    return this.sock.lastEndpoint ?? endpoint;
  }

  stats(): IngestStats {
    return { ...this.counters, refused: Object.fromEntries(this.refused) };
  }

  private loop(): Promise<void> {
    return receiveLoop(
      this.sock,
      (frames) => {
        try {
          this.handle(frames);
        } catch (err) {
          this.counters.malformed++;
          this.log.error({ err }, "message plane: ingest frame failed");
        }
      },
      { onError: (err) => this.log.error({ err }, "message plane: ingest receive failed") },
    );
  }

  private malformed(why: string, bytes: number): void {
    this.counters.malformed++;
    this.warn.warn({ bytes, malformed_total: this.counters.malformed }, `message plane: ingest frame dropped: ${why}`);
  }

  /** Public for the tests and the bench: one frame as it came off the socket. */
  handle(frames: Buffer[]): void {
    this.counters.frames++;
    const buf = frames[0];
    if (frames.length !== 1 || !buf) {
      this.malformed("multipart frame", buf?.length ?? 0);
      return;
    }
    let msg: unknown;
    try {
      msg = unpackr.unpack(buf);
    } catch {
      this.malformed("not msgpack", buf.length);
      return;
    }
    if (Array.isArray(msg)) {
      this.delta(msg, buf.length);
      return;
    }
    if (!isPlainObject(msg)) {
      this.malformed("not a map or an array", buf.length);
      return;
    }
    if (msg.kind === "snapshot") {
      this.snapshot(msg, buf.length);
      return;
    }
    if (Array.isArray(msg.items)) {
      this.delta(msg.items, buf.length);
      return;
    }
    if (msg.store !== undefined || msg.bus !== undefined) {
      this.delta([msg], buf.length);
      return;
    }
    this.malformed("neither a batch, a snapshot nor an item", buf.length);
    return;
  }

  private delta(items: unknown[], frameBytes: number): void {
    const inputs = this.batch;
    let n = 0;
    for (const it of items) if (fillFromItem(this.input(n), it)) inputs[n] = this.input(n++);
    inputs.length = n;
    const bad = items.length - n;
    if (bad) {
      this.counters.badItems += bad;
      this.warn.warn(
        { bad_items: bad, bad_items_total: this.counters.badItems },
        "message plane: ingest items dropped",
      );
    }
    this.publish(inputs, frameBytes);
  }

  private publish(inputs: PublishInput[], frameBytes: number): void {
    try {
      this.count(this.bus.publishMany(inputs, { payloadBytesUpperBound: frameBytes }));
    } finally {
      // Do not keep payloads alive through the pool.
      for (const x of inputs) x.payload = null;
      inputs.length = 0;
    }
  }

  private snapshot(msg: Record<string, unknown>, frameBytes: number): void {
    const store = msg.store ?? msg.bus;
    if (typeof store !== "string" || !(STORE_NAMES as readonly string[]).includes(store)) {
      this.malformed("snapshot without a valid store", frameBytes);
      return;
    }
    const topic = typeof msg.topic === "string" && msg.topic ? msg.topic : "snapshot.all";
    if (!Array.isArray(msg.items)) {
      this.malformed("snapshot without items", frameBytes);
      return;
    }
    const inputs = this.batch;
    let n = 0;
    for (const x of msg.items) {
      if (isPlainObject(x)) inputs[n] = fillInput(this.input(n++), store, topic, normalizePayload(x));
      else this.counters.badItems++;
    }
    inputs.length = n;
    if (msg.mode !== "append") this.bus.clearTopic?.(store as StoreName, topic);
    this.publish(inputs, frameBytes);
  }

  private count(results: PublishResult[]): void {
    for (const r of results) {
      if (r.submitted) this.counters.accepted++;
      else {
        this.refused.set(r.code, (this.refused.get(r.code) ?? 0) + 1);
        this.warn.warn({ code: r.code, reason: r.reason }, "message plane: ingest record refused");
      }
    }
  }

  close(): Promise<void> {
    return releaseSocket(this.sock, this.settings.portReleaseWaitMs, this.log);
  }
}
