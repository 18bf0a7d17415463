import type { Readable, Socket } from "zeromq";

/**
 * Receives from a zeromq socket and hands each message to `onMessage`, synchronously, until the socket closes.
 *
 * zeromq's plain `await sock.receive()` checks ZMQ_EVENTS before every read and yields to the event loop only
 * after 512 reads in a row. Here the socket is drained with receiveTimeout 0 instead: a read is then a plain
 * non-blocking zmq_msg_recv (about 2 µs instead of 3.5 µs on this machine), and an empty queue shows up as one
 * EAGAIN rejection, after which the loop waits for the next message with a blocking receive. Fairness is ours to
 * keep: after `batch` messages the loop yields (setImmediate), so HTTP, timers and the other sockets get their turn
 * even under a flood.
 */
export async function receiveLoop(
  sock: Socket & Readable,
  onMessage: (frames: Buffer[]) => void,
  opts: { batch?: number; onError?: (err: unknown) => void } = {},
): Promise<void> {
  const batch = opts.batch ?? 256;
  sock.receiveTimeout = 0;
  for (;;) {
    let n = 0;
    try {
      for (; n < batch; n++) onMessage(await sock.receive());
    } catch (err) {
      if (sock.closed) return;
      if ((err as { code?: string }).code !== "EAGAIN") {
        opts.onError?.(err);
        await yieldToLoop();
        continue;
      }
      // Empty: block until the next message arrives.
      let frames: Buffer[];
      try {
        sock.receiveTimeout = -1;
        frames = await sock.receive();
        sock.receiveTimeout = 0;
      } catch (err2) {
        if (sock.closed) return;
        opts.onError?.(err2);
        continue;
      }
      onMessage(frames);
      continue;
    }
    await yieldToLoop();
  }
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
