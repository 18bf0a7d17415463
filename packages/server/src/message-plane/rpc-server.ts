import { Router } from "zeromq";
import { BusError } from "../bus/types.js";
import { decode, detectEncoding, type Encoding } from "./codec.js";
import { PlaneError, salvageReqId, validateEnvelope } from "./envelope.js";
import { type PlaneLogger, RateLimitedWarn } from "./log.js";
import { OPS, type OpContext } from "./ops.js";
import { receiveLoop } from "./receive-loop.js";
import { releaseSocket } from "./release.js";
import { encodeError, encodeResult } from "./reply.js";
import type { MessagePlaneSettings } from "./settings.js";

export interface RpcStats {
  requests: number;
  errors: Record<string, number>;
}

/**
 * RPC on a ROUTER socket. The last frame is the request, the frames before it the routing envelope echoed back.
 * A request is handled synchronously from receive to send (see receive-loop.ts for how queued requests are
 * drained). sendTimeout 0 makes send synchronous too: ROUTER never blocks, it drops a reply to a peer that is gone
 * or whose queue is full (that peer's request times out on its side).
 */
export class RpcServer {
  private readonly sock: Router;
  private closing = false;
  private readonly warn: RateLimitedWarn;
  private readonly counters = { requests: 0 };
  private readonly errors = new Map<string, number>();
  private readonly onSendError = (err: unknown) => {
    if (!this.closing) this.warn.warn({ err }, "message plane: RPC reply could not be sent");
  };

  constructor(
    private readonly ctx: OpContext,
    private readonly settings: MessagePlaneSettings,
    private readonly log: PlaneLogger,
  ) {
    this.warn = new RateLimitedWarn(log);
    this.sock = new Router({
      linger: 0,
      sendTimeout: 0,
      receiveHighWaterMark: settings.rpcHwm,
      sendHighWaterMark: settings.rpcHwm,
      // A hard cap far above maxRequestBytes: libzmq drops the peer beyond it, below it we reply REQUEST_TOO_LARGE.
      maxMessageSize: Math.max(settings.maxRequestBytes * 4, 16 * 1024 * 1024),
    });
  }

  async bind(endpoint: string): Promise<string> {
    await this.sock.bind(endpoint);
    void this.loop();
    return this.sock.lastEndpoint ?? endpoint;
  }

  stats(): RpcStats {
    return { requests: this.counters.requests, errors: Object.fromEntries(this.errors) };
  }

  private loop(): Promise<void> {
    return receiveLoop(this.sock, (frames) => this.handle(frames), {
      onError: (err) => this.log.error({ err }, "message plane: RPC receive failed"),
    });
  }

  private handle(frames: Buffer[]): void {
    const n = frames.length;
    // Without a routing id there is no one to answer.
    if (n < 2) return;
    let reply: Buffer;
    try {
      reply = this.process(frames[n - 1] as Buffer);
    } catch (err) {
      // process() turns every expected failure into a reply; this is a bug, still answered.
      this.log.error({ err }, "message plane: RPC handler failed");
      reply = encodeError("json", "", { code: "INTERNAL", message: "internal error" });
    }
    const out = n === 2 ? [frames[0] as Buffer, reply] : [...frames.slice(0, n - 1), reply];
    this.sock.send(out).catch(this.onSendError);
  }

  private fail(enc: Encoding, reqId: string, err: PlaneError): Buffer {
    this.errors.set(err.code, (this.errors.get(err.code) ?? 0) + 1);
    return encodeError(enc, reqId, err.toWire());
  }

  private process(body: Buffer): Buffer {
    this.counters.requests++;
    const enc = detectEncoding(body);
    if (body.length > this.settings.maxRequestBytes) {
      // Still decoded (libzmq's hard cap bounds the cost) so the client can match the refusal to its request.
      let reqId = "";
      try {
        reqId = salvageReqId(decode(body, enc));
      } catch {}
      return this.fail(
        enc,
        reqId,
        new PlaneError(
          "REQUEST_TOO_LARGE",
          `request is ${body.length} bytes; the limit is ${this.settings.maxRequestBytes}`,
        ),
      );
    }
    let msg: unknown;
    try {
      msg = decode(body, enc);
    } catch {
      const what = enc === "msgpack" ? "not valid msgpack" : "neither JSON nor msgpack";
      this.warn.warn({ bytes: body.length }, `message plane: RPC frame is ${what}`);
      return this.fail(enc, "", new PlaneError("BAD_ENCODING", `request frame is ${what}`));
    }
    let reqId = "";
    try {
      const env = validateEnvelope(msg, this.settings.validateMode);
      reqId = env.reqId;
      const op = OPS.get(env.op);
      if (!op) throw new PlaneError("UNKNOWN_OP", `unknown op: ${env.op}`);
      return encodeResult(enc, reqId, op(this.ctx, env.args), this.settings.maxResultBytes);
    } catch (err) {
      if (err instanceof PlaneError) return this.fail(enc, reqId || salvageReqId(msg), err);
      if (err instanceof BusError) return this.fail(enc, reqId, new PlaneError(err.code, err.message, err.details));
      this.log.error({ err }, "message plane: RPC op failed");
      return this.fail(enc, reqId, new PlaneError("INTERNAL", `internal error: ${(err as Error)?.message ?? err}`));
    }
  }

  close(): Promise<void> {
    this.closing = true;
    return releaseSocket(this.sock, this.settings.portReleaseWaitMs, this.log);
  }
}
