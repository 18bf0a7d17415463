import fs from "node:fs";

/** Read size for scanning; a log line is rarely longer, and 64 KiB reads are cheap from the page cache. */
const CHUNK = 64 * 1024;
const NL = 0x0a;

export interface ScannedLine {
  text: string;
  /** 1-based line number in the file. */
  lineNo: number;
}

/** Newlines in the first `upTo` bytes of an open file (all of it by default): the number of complete lines. */
export function countLinesFd(fd: number, upTo: number, from = 0, base = 0): number {
  const buf = Buffer.allocUnsafe(CHUNK);
  let n = base;
  for (let pos = from; pos < upTo; ) {
    const got = fs.readSync(fd, buf, 0, Math.min(CHUNK, upTo - pos), pos);
    if (got <= 0) break;
    for (let i = buf.indexOf(NL, 0); i >= 0 && i < got; i = buf.indexOf(NL, i + 1)) n++;
    pos += got;
  }
  return n;
}

export function countLinesSync(file: string): number {
  const fd = fs.openSync(file, "r");
  try {
    return countLinesFd(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Line counts of files seen before, by inode: a rotated file never changes and a live one only grows, so after the
 * first query only the new bytes are counted. This is what lets `line` be the real line number without reading a
 * 10 MiB file on every request.
 */
export class LineCounter {
  private readonly known = new Map<string, { size: number; lines: number }>();

  constructor(private readonly maxEntries = 256) {}

  count(fd: number, st: fs.Stats, size = st.size): number {
    const key = `${st.dev}:${st.ino}`;
    const prev = this.known.get(key);
    const lines = prev && prev.size <= size ? countLinesFd(fd, size, prev.size, prev.lines) : countLinesFd(fd, size);
    this.known.delete(key);
    this.known.set(key, { size, lines });
    if (this.known.size > this.maxEntries) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
    return lines;
  }
}

/**
 * Lines of the first `size` bytes of an open file, last first. `totalLines` is the number of newlines in that range,
 * so each line gets its real number. Bytes after the last newline are a line still being written by someone else and
 * are skipped (plugd's own writes are whole lines).
 */
export function* scanBackward(fd: number, size: number, totalLines: number): Generator<ScannedLine> {
  let pos = size;
  let pending: Buffer[] = [];
  let inPartial = true;
  let lineNo = totalLines;
  const emit = (): ScannedLine => {
    const text = (pending.length === 1 ? pending[0]! : Buffer.concat(pending)).toString("utf8");
    pending = [];
    return { text, lineNo: lineNo-- };
  };
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const chunk = Buffer.allocUnsafe(len);
    const got = fs.readSync(fd, chunk, 0, len, pos);
    if (got < len) return; // the file shrank under us (truncated): stop rather than yield garbage
    let end = len;
    let i = chunk.lastIndexOf(NL, end - 1);
    while (i >= 0) {
      if (inPartial) {
        inPartial = false;
        pending = [];
      } else {
        pending.unshift(chunk.subarray(i + 1, end));
        yield emit();
      }
      end = i;
      i = end > 0 ? chunk.lastIndexOf(NL, end - 1) : -1;
    }
    if (!inPartial && end > 0) pending.unshift(chunk.subarray(0, end));
  }
  if (!inPartial && lineNo >= 1) yield emit();
}
