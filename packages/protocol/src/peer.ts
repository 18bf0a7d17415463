import { ErrorCodes, type ErrorObject, RpcError, toErrorObject } from "./errors.js";
import { DEFAULT_MAX_MESSAGE_BYTES, encodeFrame, FrameDecoder, type FrameSink } from "./framing.js";
import { IdTable } from "./id-table.js";
import type { RequestId, ResponseMessage } from "./jsonrpc.js";
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

/**
 * What a request uses of an AbortSignal. A real one fits; so does a lighter one-shot object: creating an
 * AbortController (an EventTarget) was a visible part of a run's cost in the server's profile, at two per run.
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** Aborting fails the request at once (CANCELLED) and tells the other side with `$/cancelRequest`. */
  signal?: AbortSignalLike;
  /**
   * Aborting only asks the other side to stop (`$/cancelRequest`); the request keeps waiting for its answer, so the
   * caller learns whether the work really stopped (the run engine's cancel with a grace period).
   */
  cancelSignal?: AbortSignalLike;
}

export interface HandlerContext {
  readonly id: RequestId;
  readonly method: string;
  /** Aborted when the other side sends `$/cancelRequest` for this request, or the connection closes. */
  readonly signal: AbortSignal;
}

export type RequestHandler = (params: any, ctx: HandlerContext) => unknown;
export type NotificationHandler = (params: any) => void;

/**
 * Where the answer to a request goes. `request()` makes one from its promise; a hot path that keeps its own promise
 * per call (the host's invoke) passes its own object to `requestJson()` and saves a promise and its closures.
 */
export interface ResponseSink {
  resolve(result: unknown): void;
  reject(err: RpcError): void;
}

class Pending {
  /** performance.now() deadline, or 0 for none. */
  deadline = 0;
  onAbort: (() => void) | undefined = undefined;
  onSoftCancel: (() => void) | undefined = undefined;
  constructor(
    readonly method: string,
    readonly sink: ResponseSink,
    readonly timeoutMs: number,
    readonly signal: AbortSignalLike | undefined,
    readonly cancelSignal: AbortSignalLike | undefined,
  ) {}
}

/**
 * Output written in one turn beyond this goes out at once (see send()). 4 KiB: with 64 small invokes in flight the
 * two processes then overlap instead of taking turns, 130k → 250–280k invokes/s; 16 KiB never triggered at that
 * depth, 2 KiB costs more writes than it gains (bench/rpc.mjs, pipelined W=64).
 */
const EAGER_FLUSH_CHARS = 4 * 1024;

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

/** The envelope every message of ours starts with; the receive fast path looks for it. */
const ID_PREFIX = '{"jsonrpc":"2.0","id":';
const METHOD_PREFIX = '{"jsonrpc":"2.0","method":"';
const RESULT_KEY = ',"result":';
const METHOD_KEY = ',"method":"';
const PARAMS_KEY = '","params":';

/** Method names quoted as JSON, so a request does not stringify its method name every time. */
const quotedMethods = new Map<string, string>();
function quoteMethod(method: string): string {
  let q = quotedMethods.get(method);
  if (q === undefined) {
    q = JSON.stringify(method);
    if (quotedMethods.size < 256) quotedMethods.set(method, q);
  }
  return q;
}

function quoteId(id: RequestId): string {
  return typeof id === "number" ? String(id) : JSON.stringify(id);
}

/** A response is built as text around the result: one stringify of the result instead of an envelope object. */
function resultText(id: RequestId, value: unknown): string {
  const result = value === undefined ? "null" : (JSON.stringify(value) ?? "null");
  return `{"jsonrpc":"2.0","id":${quoteId(id)},"result":${result}}`;
}

function errorText(id: RequestId | null, error: ErrorObject): string {
  return JSON.stringify({ jsonrpc: "2.0", id, error });
}

/** What dispatching one message gives back: the response to send as JSON text (maybe later), or nothing. */
type Reply = string | Promise<string | undefined> | undefined;

/**
 * A JSON-RPC 2.0 peer: sends requests and notifications, answers the other side's, matches responses, handles
 * `$/cancelRequest`, per-request timeouts and batches. Outgoing messages written in the same event-loop turn are
 * coalesced into one write; every message a chunk holds is dispatched in the same turn.
 *
 * Hot path (see bench/invoke-cpu.mjs): envelopes are written as text around one `JSON.stringify` of the params or the
 * result, and a received message whose envelope has exactly that shape is read without parsing the envelope: only
 * its params or result go through `JSON.parse`. Anything else takes the general path.
 */
export class RpcPeer {
  private readonly decoder: FrameDecoder;
  private readonly maxMessageBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly notificationHandlers = new Map<string, NotificationHandler>();
  private readonly pending = new IdTable<Pending>();
  private readonly incoming = new Map<RequestId, IncomingContext>();
  private readonly closeListeners: Array<(reason: string) => void> = [];
  private fallbackNotification: ((method: string, params: unknown) => void) | undefined;
  private nextId = 1;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweepAt = 0;
  private out = "";
  private flushScheduled = false;
  private readonly flushLater = () => this.flush();
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
    return new Promise<R>((resolve, reject) => {
      const sink: ResponseSink = { resolve: resolve as (v: unknown) => void, reject };
      // Stringified in here so a params that cannot be serialized (a cycle, a BigInt) rejects instead of throwing.
      this.requestJson(method, params === undefined ? undefined : JSON.stringify(params), opts, sink);
    });
  }

  /**
   * `request()` for a hot path: `paramsJson` is the params already serialized (undefined for none), and the answer,
   * or the reason there is none (CONNECTION_CLOSED, CANCELLED, TIMEOUT, MESSAGE_TOO_LARGE), goes to `sink` exactly
   * once — synchronously if the request cannot be sent at all.
   */
  requestJson(method: string, paramsJson: string | undefined, opts: RequestOptions, sink: ResponseSink): void {
    if (this.closedReason !== undefined) {
      sink.reject(
        RpcError.of("CONNECTION_CLOSED", `cannot send '${method}': connection closed (${this.closedReason})`),
      );
      return;
    }
    const signal = opts.signal;
    if (signal?.aborted) {
      sink.reject(RpcError.of("CANCELLED", `'${method}' was cancelled before it was sent`));
      return;
    }
    const id = this.nextId++;
    const json =
      paramsJson === undefined
        ? `{"jsonrpc":"2.0","id":${id},"method":${quoteMethod(method)}}`
        : `{"jsonrpc":"2.0","id":${id},"method":${quoteMethod(method)},"params":${paramsJson}}`;
    if (json.length > this.maxMessageBytes && Buffer.byteLength(json) > this.maxMessageBytes) {
      sink.reject(this.tooLarge(method, Buffer.byteLength(json)));
      return;
    }
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    const soft = opts.cancelSignal;
    const p = new Pending(method, sink, timeoutMs, signal, soft);
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      p.deadline = performance.now() + timeoutMs;
      this.armTimeouts(p.deadline);
    }
    if (signal) {
      p.onAbort = () => this.abandon(id, RpcError.of("CANCELLED", `'${method}' was cancelled by the caller`));
      signal.addEventListener("abort", p.onAbort, { once: true });
    }
    if (soft) {
      const ask = () => {
        if (this.pending.has(id)) this.notify(Methods.cancelRequest, { id });
      };
      if (soft.aborted) queueMicrotask(ask);
      else {
        p.onSoftCancel = ask;
        soft.addEventListener("abort", ask, { once: true });
      }
    }
    this.pending.set(id, p);
    this.send(json);
  }

  notify(method: string, params?: unknown): void {
    if (this.closedReason !== undefined) return;
    const paramsJson = params === undefined ? undefined : JSON.stringify(params);
    const json =
      paramsJson === undefined
        ? `{"jsonrpc":"2.0","method":${quoteMethod(method)}}`
        : `{"jsonrpc":"2.0","method":${quoteMethod(method)},"params":${paramsJson}}`;
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
    for (const [id, p] of this.pending.entries()) {
      this.settle(id, p);
      p.sink.reject(
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
      setImmediate(this.flushLater);
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
    for (const [id, p] of this.pending.entries()) {
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
    p.sink.reject(err);
  }

  private settle(id: RequestId, p: Pending): void {
    this.pending.delete(id);
    if (p.onAbort) p.signal!.removeEventListener("abort", p.onAbort);
    if (p.onSoftCancel) p.cancelSignal!.removeEventListener("abort", p.onSoftCancel);
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
      this.respond(errorText(parsedId, err.toObject()));
    } else {
      const p = this.pending.get(parsedId);
      if (p) {
        this.settle(parsedId, p);
        p.sink.reject(err);
      }
    }
  }

  private receive(body: string): void {
    if (body.startsWith(ID_PREFIX)) {
      if (this.receiveWithId(body)) return;
    } else if (body.startsWith(METHOD_PREFIX)) {
      if (this.receiveNotification(body)) return;
    }
    this.receiveGeneral(body);
  }

  /**
   * Fast path for `{"jsonrpc":"2.0","id":<digits>,` followed by `"result":R}` or `"method":"m"[,"params":P]}`: reads
   * the envelope from the text and parses only R or P. Returns false, having done nothing, for any other shape (an
   * error response, a string id, whitespace, extra members, bad JSON), which the general path then handles.
   */
  private receiveWithId(body: string): boolean {
    const n = body.length;
    let i = ID_PREFIX.length;
    let c = body.charCodeAt(i);
    if (c < 0x31 || c > 0x39) return false; // 1-9: no leading zero, sign or string id
    let id = c - 0x30;
    for (c = body.charCodeAt(++i); c >= 0x30 && c <= 0x39; c = body.charCodeAt(++i)) id = id * 10 + (c - 0x30);
    if (i - ID_PREFIX.length > 15 || c !== 0x2c || body.charCodeAt(n - 1) !== 0x7d) return false;
    if (body.startsWith(RESULT_KEY, i)) {
      let result: unknown;
      try {
        result = JSON.parse(body.slice(i + RESULT_KEY.length, n - 1));
      } catch {
        return false;
      }
      this.resolvePending(id, result);
      return true;
    }
    if (!body.startsWith(METHOD_KEY, i)) return false;
    const methodStart = i + METHOD_KEY.length;
    const methodEnd = plainStringEnd(body, methodStart);
    if (methodEnd < 0) return false;
    const params = paramsAfterMethod(body, methodEnd);
    if (params === NOT_PLAIN) return false;
    this.sendReply(this.dispatchRequest(id, body.slice(methodStart, methodEnd), params));
    return true;
  }

  /** Fast path for `{"jsonrpc":"2.0","method":"m"[,"params":P]}`, as receiveWithId. */
  private receiveNotification(body: string): boolean {
    const n = body.length;
    const methodEnd = plainStringEnd(body, METHOD_PREFIX.length);
    if (methodEnd < 0 || body.charCodeAt(n - 1) !== 0x7d) return false;
    const params = paramsAfterMethod(body, methodEnd);
    if (params === NOT_PLAIN) return false;
    this.dispatchNotification(body.slice(METHOD_PREFIX.length, methodEnd), params);
    return true;
  }

  private receiveGeneral(body: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(body);
    } catch (e) {
      this.warn({ kind: "parse_error", message: (e as Error).message, text: body.slice(0, 200) });
      this.respond(errorText(null, { code: ErrorCodes.PARSE_ERROR, message: `parse error: ${(e as Error).message}` }));
      return;
    }
    if (Array.isArray(msg)) {
      this.receiveBatch(msg);
      return;
    }
    this.sendReply(this.dispatch(msg));
  }

  private sendReply(reply: Reply): void {
    if (reply === undefined) return;
    if (typeof reply === "string") this.respond(reply);
    else reply.then((r) => r !== undefined && this.respond(r));
  }

  private receiveBatch(items: unknown[]): void {
    if (items.length === 0) {
      this.respond(errorText(null, { code: ErrorCodes.INVALID_REQUEST, message: "empty batch" }));
      return;
    }
    const replies = items.map((m) => this.dispatch(m));
    void Promise.all(replies).then((rs) => {
      const answers = rs.filter((r): r is string => r !== undefined);
      if (answers.length > 0 && this.closedReason === undefined) this.send(`[${answers.join(",")}]`);
    });
  }

  /** Handles one parsed message; returns the response to send for a request (maybe later), nothing otherwise. */
  private dispatch(raw: unknown): Reply {
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
      return this.dispatchRequest(m.id, m.method, m.params);
    }
    if (m.method !== undefined) return this.invalid(raw, "method must be a string");
    if ("result" in m || "error" in m) {
      this.dispatchResponse(m as ResponseMessage);
      return undefined;
    }
    return this.invalid(raw, "neither a request, a notification nor a response");
  }

  private invalid(raw: unknown, why: string): string | undefined {
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
    return errorText(typeof id === "number" || typeof id === "string" ? id : null, {
      code: ErrorCodes.INVALID_REQUEST,
      message: `invalid request: ${why}`,
    });
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

  private dispatchRequest(id: RequestId, method: string, params: unknown): Reply {
    const handler = this.requestHandlers.get(method);
    if (!handler) {
      return errorText(id, { code: ErrorCodes.METHOD_NOT_FOUND, message: `method not found: ${method}` });
    }
    const ctx = new IncomingContext(id, method);
    let result: unknown;
    try {
      result = handler(params, ctx);
    } catch (e) {
      return this.fitted(id, errorText(id, toErrorObject(e)));
    }
    // A synchronous handler is answered synchronously: no promise, no microtask hop.
    if (!(result instanceof Promise)) return this.answer(id, result);
    this.incoming.set(id, ctx);
    return result.then(
      (value) => {
        this.incoming.delete(id);
        return this.closedReason === undefined ? this.answer(id, value) : undefined;
      },
      (e) => {
        this.incoming.delete(id);
        if (this.closedReason !== undefined) return undefined;
        const err: ErrorObject =
          ctx.cancelled && !(e instanceof RpcError)
            ? RpcError.of("CANCELLED", "the request was cancelled").toObject()
            : toErrorObject(e);
        return this.fitted(id, errorText(id, err));
      },
    );
  }

  private answer(id: RequestId, value: unknown): string {
    try {
      return this.fitted(id, resultText(id, value));
    } catch (e) {
      // A cycle or a BigInt in the result: the caller gets an error instead of the handler's process crashing.
      return errorText(id, {
        code: ErrorCodes.INTERNAL_ERROR,
        message: `the result could not be serialized as JSON: ${(e as Error).message}`,
      });
    }
  }

  /** The response to request `id`, or a MESSAGE_TOO_LARGE error in its place when it is over the limit. */
  private fitted(id: RequestId, json: string): string {
    if (json.length <= this.maxMessageBytes || Buffer.byteLength(json) <= this.maxMessageBytes) return json;
    return errorText(id, this.tooLarge("response", Buffer.byteLength(json)).toObject());
  }

  /** Sends a response built by dispatch (sized there, see fitted()). */
  private respond(json: string): void {
    if (this.closedReason !== undefined) return;
    this.send(json);
  }

  private dispatchResponse(res: ResponseMessage): void {
    if ("error" in res && res.error) {
      const p = res.id === null ? undefined : this.pending.get(res.id);
      if (!p) {
        this.unknownResponse(res.id);
        return;
      }
      this.settle(res.id!, p);
      p.sink.reject(RpcError.fromObject(res.error));
      return;
    }
    this.resolvePending(res.id, (res as { result: unknown }).result);
  }

  private resolvePending(id: RequestId | null, result: unknown): void {
    const p = id === null ? undefined : this.pending.get(id);
    if (!p) {
      this.unknownResponse(id);
      return;
    }
    this.settle(id!, p);
    p.sink.resolve(result);
  }

  private unknownResponse(id: RequestId | null): void {
    // Late answers to requests we timed out or cancelled end up here; that is expected, not an error.
    this.warn({ kind: "unknown_response", message: `response for unknown request id ${String(id)}` });
  }
}

/** What paramsAfterMethod answers for a message that is not of the plain shape (the general path reads it). */
const NOT_PLAIN: unique symbol = Symbol("not plain");

/**
 * The params of a message whose method name ends (closing quote) at `methodEnd`, for `"}` (none: undefined) or
 * `","params":P}` (P parsed); NOT_PLAIN for anything else, bad JSON included.
 */
function paramsAfterMethod(body: string, methodEnd: number): unknown {
  const n = body.length;
  if (methodEnd === n - 2) return undefined;
  if (!body.startsWith(PARAMS_KEY, methodEnd)) return NOT_PLAIN;
  try {
    return JSON.parse(body.slice(methodEnd + PARAMS_KEY.length, n - 1));
  } catch {
    return NOT_PLAIN;
  }
}

/**
 * End of a JSON string body that starts at `from` and holds no escapes or control characters (a method name as
 * written by every SDK): the index of its closing quote, or -1 when it is anything else.
 */
function plainStringEnd(s: string, from: number): number {
  const n = s.length;
  for (let j = from; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x22) return j;
    if (c === 0x5c || c < 0x20) return -1;
  }
  return -1;
}
