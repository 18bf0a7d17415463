/**
 * `Content-Length` framing (the Language Server Protocol's): `Content-Length: N\r\n\r\n<N bytes of UTF-8 JSON>`.
 *
 * Written by hand because it sits on the hot path (see docs/protocol.md and bench/): the decoder parses every
 * message a chunk holds in one pass, slices bodies out of the chunk without copying, and only joins chunks once
 * for a body that spans several. Bytes that are not a frame (a plugin printing to stdout) are skipped up to the next
 * header and reported, so the stream never wedges.
 */

const HEADER_PREFIX = "Content-";
const LENGTH_HEADER = "content-length";
/** Longest header block accepted; a real one is ~40 bytes. Anything longer is noise. */
const MAX_HEADER_BYTES = 1024;
const CRLFCRLF = Buffer.from("\r\n\r\n");
const PREFIX_BYTES = Buffer.from(HEADER_PREFIX);
/** How much of a skipped oversize body is kept to find the request id in it. */
const PEEK_BYTES = 256;

export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface FrameSink {
  /** One complete body, decoded as UTF-8 (not yet parsed). */
  frame(body: string): void;
  /** Bytes skipped while looking for the next header. */
  garbage(text: string, bytes: number): void;
  /** A frame announced more than the limit; its body was skipped. `peek` is the body's first bytes. */
  oversize(length: number, limit: number, peek: string): void;
}

/** Encodes a message as one string (header + body) so the writer can send many in a single write. */
export function encodeFrame(json: string): string {
  return `Content-Length: ${Buffer.byteLength(json, "utf8")}\r\n\r\n${json}`;
}

export function encodeMessage(message: unknown): string {
  return encodeFrame(JSON.stringify(message));
}

export class FrameDecoder {
  readonly maxMessageBytes: number;
  private readonly sink: FrameSink;
  /** Bytes not yet consumed (a partial header, or noise that may still become a header). */
  private pending: Buffer | null = null;
  /** Body being collected across chunks. */
  private bodyLength = -1;
  private bodyChunks: Buffer[] = [];
  private bodyHave = 0;
  /** Bytes of an oversize body still to skip. */
  private skipLeft = 0;
  private skipPeek: Buffer[] = [];
  private skipPeekHave = 0;
  private skipLength = 0;

  constructor(sink: FrameSink, maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {
    this.sink = sink;
    this.maxMessageBytes = maxMessageBytes;
  }

  /** True when no partial frame is buffered (the stream is between messages). */
  get idle(): boolean {
    return this.pending === null && this.bodyLength < 0 && this.skipLeft === 0;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    let pos = 0;

    if (this.skipLeft > 0) {
      pos = this.skipBody(buf, 0);
      if (pos >= buf.length) return;
    }
    if (this.bodyLength >= 0) {
      const need = this.bodyLength - this.bodyHave;
      if (buf.length < need) {
        this.bodyChunks.push(buf);
        this.bodyHave += buf.length;
        return;
      }
      this.bodyChunks.push(buf.subarray(0, need));
      const body = Buffer.concat(this.bodyChunks, this.bodyLength);
      this.bodyChunks = [];
      this.bodyHave = 0;
      this.bodyLength = -1;
      pos = need;
      this.sink.frame(body.toString("utf8"));
    } else if (this.pending !== null) {
      // Only a partial header (≤ MAX_HEADER_BYTES) is ever kept here, so this join stays small.
      buf = Buffer.concat([this.pending, buf]);
      this.pending = null;
    }

    const end = buf.length;
    while (pos < end) {
      // Fast path: a frame starts exactly here.
      let start = pos;
      if (!startsWithPrefix(buf, pos)) {
        start = findHeaderStart(buf, pos);
        if (start < 0) {
          // Keep a tail that may be the start of a split "Content-".
          const keep = partialPrefixTail(buf, pos);
          this.reportGarbage(buf, pos, end - keep);
          if (keep > 0) this.pending = Buffer.from(buf.subarray(end - keep));
          return;
        }
        this.reportGarbage(buf, pos, start);
      }
      const headerEnd = buf.indexOf(CRLFCRLF, start);
      if (headerEnd < 0 || headerEnd - start > MAX_HEADER_BYTES) {
        if (headerEnd < 0 && end - start <= MAX_HEADER_BYTES) {
          this.pending = Buffer.from(buf.subarray(start));
          return;
        }
        // A "Content-" that never became a header: skip it and keep looking.
        this.reportGarbage(buf, start, start + PREFIX_BYTES.length);
        pos = start + PREFIX_BYTES.length;
        continue;
      }
      const fast = fastContentLength(buf, start, headerEnd);
      const length = fast >= 0 ? fast : parseContentLength(buf.toString("latin1", start, headerEnd));
      if (length < 0) {
        // Not a header after all; a real one may start inside this block ("Content-Foo\nContent-Length: …").
        this.reportGarbage(buf, start, start + PREFIX_BYTES.length);
        pos = start + PREFIX_BYTES.length;
        continue;
      }
      const bodyStart = headerEnd + 4;
      if (length > this.maxMessageBytes) {
        this.skipLeft = length;
        this.skipLength = length;
        pos = this.skipBody(buf, bodyStart);
        continue;
      }
      const bodyEnd = bodyStart + length;
      if (bodyEnd <= end) {
        pos = bodyEnd;
        this.sink.frame(buf.toString("utf8", bodyStart, bodyEnd));
        continue;
      }
      // The body continues in later chunks: keep a view (no copy) of what we have.
      this.bodyLength = length;
      if (bodyStart < end) {
        const part = buf.subarray(bodyStart);
        this.bodyChunks.push(part);
        this.bodyHave = part.length;
      }
      return;
    }
  }

  private skipBody(buf: Buffer, from: number): number {
    const take = Math.min(this.skipLeft, buf.length - from);
    if (this.skipPeekHave < PEEK_BYTES && take > 0) {
      const peek = buf.subarray(from, from + Math.min(take, PEEK_BYTES - this.skipPeekHave));
      this.skipPeek.push(Buffer.from(peek));
      this.skipPeekHave += peek.length;
    }
    this.skipLeft -= take;
    if (this.skipLeft === 0) {
      const peek = Buffer.concat(this.skipPeek).toString("utf8");
      this.skipPeek = [];
      this.skipPeekHave = 0;
      this.sink.oversize(this.skipLength, this.maxMessageBytes, peek);
    }
    return from + take;
  }

  private reportGarbage(buf: Buffer, from: number, to: number): void {
    if (to <= from) return;
    this.sink.garbage(buf.toString("utf8", from, Math.min(to, from + 512)), to - from);
  }
}

const LOWER_PREFIX = Buffer.from("content-");
const PREFIX_SPELLINGS = [PREFIX_BYTES, LOWER_PREFIX, Buffer.from("CONTENT-")];

/**
 * Where the next header may start. Header names are case-insensitive; the usual spellings are searched for directly
 * (lowercasing whole chunks of noise to search them would cost more than it finds).
 */
function findHeaderStart(buf: Buffer, from: number): number {
  let best = -1;
  for (const p of PREFIX_SPELLINGS) {
    const i = buf.indexOf(p, from);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

function startsWithPrefix(buf: Buffer, pos: number): boolean {
  // "Content-" = 43 6f 6e 74 65 6e 74 2d
  return (
    buf.length - pos >= 8 &&
    buf[pos] === 0x43 &&
    buf[pos + 1] === 0x6f &&
    buf[pos + 2] === 0x6e &&
    buf[pos + 3] === 0x74 &&
    buf[pos + 4] === 0x65 &&
    buf[pos + 5] === 0x6e &&
    buf[pos + 6] === 0x74 &&
    buf[pos + 7] === 0x2d
  );
}

/** Length of the longest suffix of buf[from..] that is a proper prefix of "Content-". */
function partialPrefixTail(buf: Buffer, from: number): number {
  const max = Math.min(PREFIX_BYTES.length - 1, buf.length - from);
  for (let k = max; k > 0; k--) {
    let match = true;
    for (let j = 0; j < k && match; j++) {
      // ASCII letters: OR 0x20 lowercases, so "Conte", "conte" and "CONTE" all match.
      const b = buf[buf.length - k + j]!;
      const want = LOWER_PREFIX[j]!;
      match = b === want || (want >= 0x61 && want <= 0x7a && (b | 0x20) === want);
    }
    if (match) return k;
  }
  return 0;
}

const LENGTH_PREFIX = Buffer.from("Content-Length: ");

/** The common header exactly as every SDK writes it, read straight from the bytes (no strings, no split). */
function fastContentLength(buf: Buffer, start: number, headerEnd: number): number {
  const digitsAt = start + LENGTH_PREFIX.length;
  if (headerEnd - digitsAt < 1 || headerEnd - digitsAt > 15) return -1;
  if (buf.compare(LENGTH_PREFIX, 0, LENGTH_PREFIX.length, start, digitsAt) !== 0) return -1;
  let n = 0;
  for (let i = digitsAt; i < headerEnd; i++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Parses a header block; returns the Content-Length, or -1 if the block is not a valid header. */
function parseContentLength(block: string): number {
  let length = -1;
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) return -1;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === LENGTH_HEADER) {
      const value = line.slice(colon + 1).trim();
      if (!/^\d{1,15}$/.test(value)) return -1;
      length = Number(value);
    } else if (!/^[a-z0-9-]+$/.test(name)) {
      return -1;
    }
  }
  return length;
}
