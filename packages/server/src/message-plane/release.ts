import net from "node:net";
import type { Socket } from "zeromq";

/** How long close waits for libzmq to let go of a TCP port. */
const PORT_RELEASE_WAIT_MS = 2000;

/**
 * Closes a bound socket so its port is free when this resolves. `close()` hands the listener to libzmq's I/O thread
 * and returns at once, so a restart on the same port could race it and fail with EADDRINUSE: wait until the port can
 * be bound. (Not `unbind()` before `close()`: with peers connected, the two pipe terminations raced inside libzmq
 * 4.3.5 and aborted the process — "Assertion failed: _state == term_ack_sent || _state == term_req_sent2
 * (pipe.cpp:355)", in about half the runs of message-plane.test.ts under load.)
 */
export async function releaseSocket(sock: Socket): Promise<void> {
  const endpoint = sock.lastEndpoint;
  if (!sock.closed) sock.close();
  const m = endpoint ? /^tcp:\/\/(.+):(\d+)$/.exec(endpoint) : null;
  if (m) await waitUntilFree(m[1]!.replace(/^\[(.*)\]$/, "$1"), Number(m[2]), PORT_RELEASE_WAIT_MS);
}

/** Resolves once `host:port` can be bound (probed with a listener closed at once), or after `withinMs`. */
async function waitUntilFree(host: string, port: number, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once("error", () => resolve(false));
      probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
    });
    if (free) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
