import { PassThrough } from "node:stream";
import { FrameDecoder } from "../src/framing.js";
import { type ProtocolWarning, RpcPeer } from "../src/peer.js";

/**
 * A peer (1000-byte message limit) plus raw access to the other end of its streams, to send hand-made bytes and read
 * what it writes: `texts` as written, `next(n)` parsed.
 */
export function rawPeer() {
  const toPeer = new PassThrough();
  const fromPeer = new PassThrough();
  const warnings: ProtocolWarning[] = [];
  const peer = new RpcPeer(toPeer, fromPeer, { onWarning: (w) => warnings.push(w), maxMessageBytes: 1000 });
  const received: any[] = [];
  const texts: string[] = [];
  const decoder = new FrameDecoder({
    frame: (b) => {
      texts.push(b);
      received.push(JSON.parse(b));
    },
    garbage: () => {},
    oversize: () => {},
  });
  fromPeer.on("data", (c: Buffer) => decoder.push(c));
  const next = async (n = 1) => {
    while (received.length < n) await new Promise((r) => setTimeout(r, 2));
    return received.splice(0, n);
  };
  const send = (s: string) => toPeer.write(`Content-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`);
  return { peer, toPeer, warnings, next, send, texts };
}
