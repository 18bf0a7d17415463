import { ErrorCodes, type ErrorObject, RpcError, toErrorObject } from "./errors.js";
import { DEFAULT_MAX_MESSAGE_BYTES, encodeFrame, FrameDecoder, type FrameSink } from "./framing.js";
import type { RequestId, RequestMessage, ResponseMessage } from "./jsonrpc.js";
import { Methods } from "./methods.js";

/** The byte streams a peer talks over: a child's stdout/stdin on the host, process stdin/stdout in a plugin. */
export interface ByteReader {
  on(event: "data", fn: (chunk: Buffer) => void): unknown;
  on(event: "end" | "close", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  removeListener(event: string, fn: (...args: any[]) => void): unknown;
}

export interface ByteWriter {
  write(data: string): boolean;
  on(event: "error", fn: (err: Error) => void): unknown;
  end?(): unknown;
}

export interface ProtocolWarning {
  kind: "garbage" | "oversize" | "parse_error" | "invalid_message" | "unknown_response" | "write_error";
  message: string;
  /** For garbage: the skipped text (truncated); for the others: what was received. */
  text?: string;
  bytes?: number;
}

export interface PeerOptions {
  /** Largest message accepted or sent, in bytes of JSON. Larger ones are refused with MESSAGE_TOO_LARGE. */
  maxMessageBytes?: number;
  /** Default timeout for outgoing requests; 0 = none. */
  requestTimeoutMs?: number;
  onWarning?: (w: ProtocolWarning) => void;
  onClose?: (reason: string) => void;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** Aborting fails the request at once (CANCELLED) and tells the other side with `$/cancelRequest`. */
  signal?: AbortSignal;
  /**
   * Aborting only asks the other side to stop (`$/cancelRequest`); the request keeps waiting for its answer, so the
   * caller learns whether the work really stopped (the run engine's cancel with a grace period).
   */
  cancelSignal?: AbortSignal;
}

export interface HandlerContext {
  readonly id: RequestId;
  readonly method: string;
  /** Aborted when the other side sends `$/cancelRequest` for this request, or the connection closes. */
  readonly signal: AbortSignal;
}

export type RequestHandler = (params: any, ctx: HandlerContext) => unknown;
export type NotificationHandler = (params: any) => void;

interface Pending {
  method: string;
  resolve: (value: any) => void;
  reject: (err: RpcError) => void;
  /** performance.now() deadline, or 0 for none. */
  deadline: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const EAGER_FLUSH_CHARS = 16 * 1024;

/** Context objects are created per incoming request; the AbortController only when a handler asks for the signal. */
class IncomingContext implements HandlerContext {
  private controller: AbortController | undefined;
  private abortedReason: string | undefined;
  constructor(
    readonly id: RequestId,
    readonly method: string,
  ) {}
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedReason !== undefined) this.controller.abort(this.abortedReason);
    }
    return this.controller.signal;
  }
  get cancelled(): boolean {
    return this.abortedReason !== undefined;
  }
  abort(reason: string): void {
    if (this.abortedReason !== undefined) return;
    this.abortedReason = reason;
    this.controller?.abort(reason);
  }
}

/**
 * A JSON-RPC 2.0 peer: sends requests and notifications, answers the other side's, matches responses, handles
 * `$/cancelRequest`, per-request timeouts and batches. Outgoing messages written in the same event-loop turn are
 * coalesced into one write; every message a chunk holds is dispatched in the same turn.
 */
export class RpcPeer {
  private readonly decoder: FrameDecoder;
  private readonly maxMessageBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly notificationHandlers = new Map<string, NotificationHandler>();
  private readonly pending = new Map<RequestId, Pending>();
  private readonly incoming = new Map<RequestId, IncomingContext>();
  private readonly closeListeners: Array<(reason: string) => void> = [];
  private fallbackNotification: ((method: string, params: unknown) => void) | undefined;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = 0;
  private out = "";
  private flushScheduled = false;
  private closedReason: string | undefined;
  private readonly onData: (chunk: Buffer) => void;
  private readonly onEnd: () => void;

  constructor(
    private readonly reader: ByteReader,
    private readonly writer: ByteWriter,
    private readonly options: PeerOptions = {},
  ) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 0;
    if (options.onClose) this.closeListeners.push(options.onClose);
    const sink: FrameSink = {
      frame: (body) => this.receive(body),
      garbage: (text, bytes) =>
        this.warn({ kind: "garbage", message: `skipped ${bytes} bytes that are not a frame`, text, bytes }),
      oversize: (length, limit, peek) => this.receiveOversize(length, limit, peek),
    };
    this.decoder = new FrameDecoder(sink, this.maxMessageBytes);
    this.onData = (chunk) => this.decoder.push(chunk);
    this.onEnd = () => this.close("the other side closed the connection");
    reader.on("data", this.onData);
    reader.on("end", this.onEnd);
    reader.on("close", this.onEnd);
    reader.on("error", (err) => this.close(`read error: ${err.message}`));
    writer.on("error", (err) => {
      this.warn({ kind: "write_error", message: err.message });
      this.close(`write error: ${err.message}`);
    });
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Number of our requests still waiting for an answer. */
  get pendingCount(): number {
    return this.pending.size;
  }

  onRequest(method: string, handler: RequestHandler): this {
    this.requestHandlers.set(method, handler);
    return this;
  }

  onNotification(method: string, handler: NotificationHandler): this {
    this.notificationHandlers.set(method, handler);
    return this;
  }

  /** Receives notifications no specific handler is registered for. */
  onAnyNotification(handler: (method: string, params: unknown) => void): this {
    this.fallbackNotification = handler;
    return this;
  }

  onClose(listener: (reason: string) => void): this {
    this.closeListeners.push(listener);
    return this;
  }

  request<R = unknown>(method: string, params?: unknown, opts: RequestOptions = {}): Promise<R> {
    if (this.closedReason !== undefined) {
      return Promise.reject(
        RpcError.of("CONNECTION_CLOSED", `cannot send '${method}': connection closed (${this.closedReason})`),
      );
    }
    const { signal } = opts;
    if (signal?.aborted) {
      return Promise.reject(RpcError.of("CANCELLED", `'${method}' was cancelled before it was sent`));
    }
    const id = this.nextId++;
    // The envelope is spliced as text: one stringify of the params instead of a wrapper object per request.
    const json =
      params === undefined
        ? `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)}}`
        : `{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${JSON.stringify(params)}}`;
    if (json.length > this.maxMessageBytes && Buffer.byteLength(json) > this.maxMessageBytes) {
      return Promise.reject(this.tooLarge(method, Buffer.byteLength(json)));
    }
    return new Promise<R>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
      const timed = timeoutMs > 0 && Number.isFinite(timeoutMs);
      const p: Pending = { method, resolve, reject, deadline: 0, timeoutMs, signal, onAbort: undefined };
      if (timed) {
        p.deadline = performance.now() + timeoutMs;
        this.armTimeouts(p.deadline);
      }
      if (signal) {
        p.onAbort = () => this.abandon(id, RpcError.of("CANCELLED", `'${method}' was cancelled by the caller`));
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      const soft = opts.cancelSignal;
      if (soft) {
        const ask = () => {
          if (this.pending.has(id)) this.notify(Methods.cancelRequest, { id });
        };
        if (soft.aborted) queueMicrotask(ask);
        else soft.addEventListener("abort", ask, { once: true });
      }
      this.pending.set(id, p);
      this.send(json);
    });
  }

  notify(method: string, params?: unknown): void {
    if (this.closedReason !== undefined) return;
    const json =
      params === undefined
        ? `{"jsonrpc":"2.0","method":${JSON.stringify(method)}}`
        : `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":${JSON.stringify(params)}}`;
    if (json.length > this.maxMessageBytes && Buffer.byteLength(json) > this.maxMessageBytes) {
      throw this.tooLarge(method, Buffer.byteLength(json));
    }
    this.send(json);
  }

  /** Writes everything queued now instead of at the end of this event-loop turn. */
  flush(): void {
    this.flushScheduled = false;
    if (this.out.length === 0) return;
    const out = this.out;
    this.out = "";
    this.writer.write(out);
  }

  /**
   * Closes the peer: every request still waiting for an answer fails with CONNECTION_CLOSED (naming the method),
   * every incoming request's signal is aborted. Idempotent.
   */
  close(reason = "closed"): void {
    if (this.closedReason !== undefined) return;
    this.flush();
    this.closedReason = reason;
    this.reader.removeListener("data", this.onData);
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(
        RpcError.of("CONNECTION_CLOSED", `connection closed before '${p.method}' (id ${id}) was answered: ${reason}`, {
          method: p.method,
          reason,
        }),
      );
    }
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    for (const ctx of this.incoming.values()) ctx.abort(reason);
    this.incoming.clear();
    for (const l of this.closeListeners) l(reason);
  }

  private send(json: string): void {
    this.out += encodeFrame(json);
    // Under load, hand the other side a first slice of work now rather than everything at the end of this turn:
    // the two processes then overlap instead of taking turns.
    if (this.out.length >= EAGER_FLUSH_CHARS) {
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * One timer for all pending requests, armed for the earliest deadline, instead of a timer per request: at
   * hundreds of thousands of requests per second, per-request timers were a measurable share of CPU and GC.
   */
  private armTimeouts(deadline: number): void {
    if (this.sweepAt !== 0 && this.sweepAt <= deadline) return;
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepAt = deadline;
    this.sweepTimer = setTimeout(() => this.sweepTimeouts(), Math.max(0, deadline - performance.now()) + 1);
  }

  private sweepTimeouts(): void {
    this.sweepTimer = undefined;
    this.sweepAt = 0;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [id, p] of this.pending) {
      if (p.deadline === 0) continue;
      if (p.deadline <= now) {
        this.abandon(
          id,
          RpcError.of("TIMEOUT", `'${p.method}' timed out after ${p.timeoutMs} ms`, { timeoutMs: p.timeoutMs }),
        );
      } else if (p.deadline < next) {
        next = p.deadline;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.armTimeouts(next);
  }

  private tooLarge(method: string, bytes: number): RpcError {
    return RpcError.of(
      "MESSAGE_TOO_LARGE",
      `'${method}' is ${bytes} bytes, over the ${this.maxMessageBytes}-byte message limit`,
      { bytes, limit: this.maxMessageBytes },
    );
  }

  private abandon(id: RequestId, err: RpcError): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.settle(id, p);
    // Tell the other side to stop working on it; it may still answer, which we then ignore.
    this.notify(Methods.cancelRequest, { id });
    p.reject(err);
  }

  private settle(id: RequestId, p: Pending): void {
    this.pending.delete(id);

    if (p.onAbort) p.signal!.removeEventListener("abort", p.onAbort);
  }

  private warn(w: ProtocolWarning): void {
    this.options.onWarning?.(w);
  }

  private receiveOversize(length: number, limit: number, peek: string): void {
    const id = /"id"\s*:\s*(\d+|"(?:[^"\\]|\\.)*")/.exec(peek)?.[1];
    const parsedId: RequestId | undefined = id === undefined ? undefined : JSON.parse(id);
    const isRequest = /"method"\s*:/.test(peek);
    const message = `received a ${length}-byte message, over the ${limit}-byte limit; it was skipped`;
    this.warn({ kind: "oversize", message, bytes: length, text: peek.slice(0, 120) });
    if (parsedId === undefined) return;
    const err = RpcError.of("MESSAGE_TOO_LARGE", message, { bytes: length, limit });
    if (isRequest) {
      this.respond({ jsonrpc: "2.0", id: parsedId, error: err.toObject() });
    } else {
      const p = this.pending.get(parsedId);
      if (p) {
        this.settle(parsedId, p);
        p.reject(err);
      }
    }
  }

  private receive(body: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(body);
    } catch (e) {
      this.warn({ kind: "parse_error", message: (e as Error).message, text: body.slice(0, 200) });
      this.respond({
        jsonrpc: "2.0",
        id: null,
        error: { code: ErrorCodes.PARSE_ERROR, message: `parse error: ${(e as Error).message}` },
      });
      return;
    }
    if (Array.isArray(msg)) {
      this.receiveBatch(msg);
      return;
    }
    const reply = this.dispatch(msg);
    if (reply === undefined) return;
    if (reply instanceof Promise) reply.then((r) => r && this.respond(r));
    else this.respond(reply);
  }

  private receiveBatch(items: unknown[]): void {
    if (items.length === 0) {
      this.respond({ jsonrpc: "2.0", id: null, error: { code: ErrorCodes.INVALID_REQUEST, message: "empty batch" } });
      return;
    }
    const replies = items.map((m) => this.dispatch(m));
    void Promise.all(replies).then((rs) => {
      const answers = rs.filter((r): r is ResponseMessage => r !== undefined);
      if (answers.length > 0 && this.closedReason === undefined) this.send(JSON.stringify(answers));
    });
  }

  /** Handles one message; returns the response to send for a request (maybe later), nothing otherwise. */
  private dispatch(raw: unknown): ResponseMessage | Promise<ResponseMessage | undefined> | undefined {
    if (typeof raw !== "object" || raw === null || (raw as { jsonrpc?: unknown }).jsonrpc !== "2.0") {
      return this.invalid(raw, 'not a JSON-RPC 2.0 message (missing jsonrpc: "2.0")');
    }
    const m = raw as { id?: RequestId | null; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.method === "string") {
      if (m.id === undefined || m.id === null) {
        this.dispatchNotification(m.method, m.params);
        return undefined;
      }
      if (typeof m.id !== "number" && typeof m.id !== "string")
        return this.invalid(raw, "id must be a number or string");
      return this.dispatchRequest(m as RequestMessage);
    }
    if (m.method !== undefined) return this.invalid(raw, "method must be a string");
    if ("result" in m || "error" in m) {
      this.dispatchResponse(m as ResponseMessage);
      return undefined;
    }
    return this.invalid(raw, "neither a request, a notification nor a response");
  }

  private invalid(raw: unknown, why: string): ResponseMessage | undefined {
    this.warn({ kind: "invalid_message", message: why, text: JSON.stringify(raw)?.slice(0, 200) });
    const id = (raw as { id?: unknown } | null)?.id;
    // Answer only what looks like a request; answering an invalid response would start a ping-pong.
    if (
      (raw as { result?: unknown; error?: unknown } | null) &&
      typeof raw === "object" &&
      ("result" in raw! || "error" in raw!)
    ) {
      return undefined;
    }
    return {
      jsonrpc: "2.0",
      id: typeof id === "number" || typeof id === "string" ? id : null,
      error: { code: ErrorCodes.INVALID_REQUEST, message: `invalid request: ${why}` },
    };
  }

  private dispatchNotification(method: string, params: unknown): void {
    if (method === Methods.cancelRequest) {
      const id = (params as { id?: RequestId } | undefined)?.id;
      if (id !== undefined) this.incoming.get(id)?.abort("cancelled by the caller");
      return;
    }
    const h = this.notificationHandlers.get(method);
    try {
      if (h) h(params);
      else this.fallbackNotification?.(method, params);
    } catch (e) {
      this.warn({
        kind: "invalid_message",
        message: `handler for notification '${method}' threw: ${(e as Error).message}`,
      });
    }
  }

  private dispatchRequest(req: RequestMessage): ResponseMessage | Promise<ResponseMessage | undefined> {
    const handler = this.requestHandlers.get(req.method);
    if (!handler) {
      return {
        jsonrpc: "2.0",
        id: req.id,
        error: { code: ErrorCodes.METHOD_NOT_FOUND, message: `method not found: ${req.method}` },
      };
    }
    const ctx = new IncomingContext(req.id, req.method);
    let result: unknown;
    try {
      result = handler(req.params, ctx);
    } catch (e) {
      return { jsonrpc: "2.0", id: req.id, error: toErrorObject(e) };
    }
    if (!(result instanceof Promise)) return this.answer(req.id, result);
    this.incoming.set(req.id, ctx);
    return result.then(
      (value) => {
        this.incoming.delete(req.id);
        return this.closedReason === undefined ? this.answer(req.id, value) : undefined;
      },
      (e) => {
        this.incoming.delete(req.id);
        if (this.closedReason !== undefined) return undefined;
        const err: ErrorObject =
          ctx.cancelled && !(e instanceof RpcError)
            ? RpcError.of("CANCELLED", "the request was cancelled").toObject()
            : toErrorObject(e);
        return { jsonrpc: "2.0", id: req.id, error: err };
      },
    );
  }

  private answer(id: RequestId, value: unknown): ResponseMessage {
    return { jsonrpc: "2.0", id, result: value === undefined ? null : value };
  }

  private respond(res: ResponseMessage): void {
    if (this.closedReason !== undefined) return;
    const json = JSON.stringify(res);
    if (json.length > this.maxMessageBytes && Buffer.byteLength(json) > this.maxMessageBytes) {
      const err = this.tooLarge("response", Buffer.byteLength(json));
      this.send(JSON.stringify({ jsonrpc: "2.0", id: res.id, error: err.toObject() }));
      return;
    }
    this.send(json);
  }

  private dispatchResponse(res: ResponseMessage): void {
    const p = res.id === null ? undefined : this.pending.get(res.id);
    if (!p) {
      // Late answers to requests we timed out or cancelled end up here; that is expected, not an error.
      this.warn({ kind: "unknown_response", message: `response for unknown request id ${String(res.id)}` });
      return;
    }
    this.settle(res.id!, p);
    if ("error" in res && res.error) p.reject(RpcError.fromObject(res.error));
    else p.resolve((res as { result: unknown }).result);
  }
}
