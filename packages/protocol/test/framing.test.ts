import { describe, expect, it } from "vitest";
import { encodeMessage, FrameDecoder } from "../src/framing.js";

function collect(max?: number) {
  const frames: string[] = [];
  const garbage: string[] = [];
  const oversize: Array<{ length: number; peek: string }> = [];
  const decoder = new FrameDecoder(
    {
      frame: (b) => frames.push(b),
      garbage: (t) => garbage.push(t),
      oversize: (length, _limit, peek) => oversize.push({ length, peek }),
    },
    max,
  );
  return { decoder, frames, garbage, oversize };
}

const frame = (s: string) => Buffer.from(`Content-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);

describe("FrameDecoder", () => {
  it("parses several frames from one chunk", () => {
    const { decoder, frames } = collect();
    decoder.push(Buffer.concat([frame('{"a":1}'), frame('{"b":2}'), frame('{"c":3}')]));
    expect(frames).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(decoder.idle).toBe(true);
  });

  it("reassembles a frame split at every byte boundary", () => {
    const whole = Buffer.concat([frame('{"text":"héllo wörld ✓ 🎉"}'), frame("{}")]);
    for (let cut = 1; cut < whole.length; cut++) {
      const { decoder, frames } = collect();
      decoder.push(whole.subarray(0, cut));
      decoder.push(whole.subarray(cut));
      expect(frames, `cut at ${cut}`).toEqual(['{"text":"héllo wörld ✓ 🎉"}', "{}"]);
    }
  });

  it("feeds byte by byte", () => {
    const { decoder, frames } = collect();
    const whole = Buffer.concat([frame('{"x":"ü"}'), frame("[1,2]")]);
    for (const b of whole) decoder.push(Buffer.from([b]));
    expect(frames).toEqual(['{"x":"ü"}', "[1,2]"]);
  });

  it("counts Content-Length in bytes, not characters", () => {
    const { decoder, frames } = collect();
    const body = '{"s":"日本語"}';
    expect(Buffer.byteLength(body)).toBeGreaterThan(body.length);
    decoder.push(Buffer.from(encodeMessage({ s: "日本語" })));
    expect(frames).toEqual([body]);
  });

  it("accepts extra headers in any case", () => {
    const { decoder, frames, garbage } = collect();
    decoder.push(Buffer.from("Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: 2\r\n\r\n{}"));
    decoder.push(Buffer.from("Content-length: 2\r\n\r\n[]"));
    expect(frames).toEqual(["{}", "[]"]);
    expect(garbage).toEqual([]);
  });

  it("skips stray text up to the next header and reports it", () => {
    const { decoder, frames, garbage } = collect();
    decoder.push(Buffer.from("hello from print()\n"));
    decoder.push(
      Buffer.concat([frame('{"ok":1}'), Buffer.from("more noise\nCont"), Buffer.from("ent-Length: 2\r\n\r\n{}")]),
    );
    expect(frames).toEqual(['{"ok":1}', "{}"]);
    expect(garbage.join("")).toBe("hello from print()\nmore noise\n");
  });

  it("skips a header block without a valid length", () => {
    const { decoder, frames, garbage } = collect();
    decoder.push(Buffer.from("Content-Length: abc\r\n\r\n"));
    decoder.push(Buffer.from("Content-Whatever\n"));
    decoder.push(frame('{"n":1}'));
    expect(frames).toEqual(['{"n":1}']);
    expect(garbage.length).toBeGreaterThan(0);
  });

  it("never wedges on a flood of noise without headers", () => {
    const { decoder, frames } = collect();
    for (let i = 0; i < 1000; i++) decoder.push(Buffer.from("x".repeat(1000)));
    decoder.push(frame("{}"));
    expect(frames).toEqual(["{}"]);
  });

  it("skips an oversize body, reports it with a peek, and keeps going", () => {
    const { decoder, frames, oversize } = collect(100);
    const big = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "m", params: "x".repeat(500) });
    const whole = Buffer.concat([frame(big), frame('{"after":true}')]);
    decoder.push(whole.subarray(0, 50));
    decoder.push(whole.subarray(50, 300));
    decoder.push(whole.subarray(300));
    expect(oversize).toHaveLength(1);
    expect(oversize[0]!.length).toBe(Buffer.byteLength(big));
    expect(oversize[0]!.peek).toContain('"id":7');
    expect(frames).toEqual(['{"after":true}']);
  });

  it("joins a large body split over many chunks once", () => {
    const { decoder, frames } = collect();
    const body = JSON.stringify({ data: "y".repeat(1 << 20) });
    const whole = frame(body);
    for (let i = 0; i < whole.length; i += 65536) decoder.push(whole.subarray(i, i + 65536));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.length).toBe(body.length);
  });
});

describe("FrameDecoder header spellings", () => {
  it("accepts content-length and CONTENT-LENGTH, also split across chunks", () => {
    const { decoder, frames, garbage } = collect();
    decoder.push(Buffer.from("content-length: 2\r\n\r\n{}"));
    decoder.push(Buffer.from("CONTENT-LENGTH: 2\r\n\r\n[]"));
    decoder.push(Buffer.from("conte"));
    decoder.push(Buffer.from("nt-length: 1\r\n\r\n1"));
    expect(frames).toEqual(["{}", "[]", "1"]);
    expect(garbage).toEqual([]);
  });
});
