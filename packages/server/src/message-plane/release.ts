import net from "node:net";
import type { Socket } from "zeromq";
import type { PlaneLogger } from "./log.js";

/**
 * Closes a bound socket so its port is free when this resolves. `close()` hands the listener to libzmq's I/O thread
 * and returns at once, so a restart on the same port could race it and fail with EADDRINUSE: wait until the port can
 * be bound. (Not `unbind()` before `close()`: with peers connected, the two pipe terminations raced inside libzmq
 * 4.3.5 and aborted the process — "Assertion failed: _state == term_ack_sent || _state == term_req_sent2
 * (pipe.cpp:355)", in about half the runs of message-plane.test.ts under load.)
 */
export async function releaseSocket(sock: Socket, waitMs: number, log: PlaneLogger): Promise<void> {
  const endpoint = sock.lastEndpoint;
  if (!sock.closed) sock.close();
  const m = endpoint ? /^tcp:\/\/(.+):(\d+)$/.exec(endpoint) : null;
  if (!m) return;
  const host = m[1]!.replace(/^\[(.*)\]$/, "$1");
  const port = Number(m[2]);
  if (!(await waitUntilFree(host, port, waitMs))) {
    log.warn(
      { endpoint, waited_ms: waitMs },
      "message plane: the port is still taken after closing its socket; a restart on it may fail with EADDRINUSE",
    );
  }
}

/** True once `host:port` can be bound (probed with a listener closed at once); false if it is still taken after `withinMs`. */
async function waitUntilFree(host: string, port: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once("error", () => resolve(false));
      probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
    });
    if (free) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}
