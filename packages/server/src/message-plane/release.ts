import type { Socket } from "zeromq";

/**
 * Closes a bound socket so its port is free when this resolves. `close()` alone hands the unbind to libzmq's I/O
 * thread and returns at once, so a restart on the same port could race it and fail with EADDRINUSE.
 */
export async function releaseSocket(sock: Socket): Promise<void> {
  const endpoint = sock.lastEndpoint;
  if (endpoint && !sock.closed) {
    try {
      await sock.unbind(endpoint);
    } catch {
      // Already unbound or closing: close() below is all that is left to do.
    }
  }
  if (!sock.closed) sock.close();
}
