import { XPublisher } from "zeromq";
import type { BusRecord } from "../bus/types.js";
import { eventJson, eventMsgpack } from "./codec.js";
import type { PlaneLogger } from "./log.js";
import { releaseSocket } from "./release.js";
import type { MessagePlaneSettings } from "./settings.js";

export interface PubStats {
  sent: number;
  subscriptions: number;
}

/**
 * PUB of every accepted record: frames `[<store>.<topic>, event]`. It is an XPUB socket so that it sees what its
 * subscribers subscribed to: a record no one wants is neither encoded nor handed to libzmq, which keeps ingest at
 * full speed when nobody listens (the common case) and costs one map lookup per record when someone does. XPUB
 * passes on only the first subscribe and the last unsubscribe of a prefix (including the unsubscribes of a peer
 * that disconnects), so a count per prefix is exact. Sends never block: at the high-water mark a slow subscriber
 * loses messages, as with any PUB.
 */
export class PubServer {
  private readonly sock: XPublisher;
  private closing = false;
  /** Subscribed prefixes as latin1 strings of their bytes (a prefix may cut a UTF-8 sequence). */
  private readonly prefixes = new Map<string, number>();
  /** Per topic frame: whether a prefix matches; rebuilt whenever subscriptions change. */
  private wants = new Map<string, boolean>();
  private sent = 0;
  private readonly noop = () => {};

  constructor(
    private readonly settings: MessagePlaneSettings,
    private readonly log: PlaneLogger,
  ) {
    this.sock = new XPublisher({ linger: 0, sendTimeout: 0, sendHighWaterMark: settings.pubSendHwm });
  }

  async bind(endpoint: string): Promise<string> {
    await this.sock.bind(endpoint);
    void this.subscriptionLoop();
    return this.sock.lastEndpoint ?? endpoint;
  }

  stats(): PubStats {
    return { sent: this.sent, subscriptions: this.prefixes.size };
  }

  private async subscriptionLoop(): Promise<void> {
    const sock = this.sock;
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await sock.receive();
      } catch (err) {
        if (this.closing || sock.closed) return;
        this.log.error({ err }, "message plane: PUB subscription receive failed");
        continue;
      }
      const f = frames[0];
      if (!f || f.length === 0 || (f[0] !== 0 && f[0] !== 1)) continue;
      const prefix = f.subarray(1).toString("latin1");
      const n = (this.prefixes.get(prefix) ?? 0) + (f[0] === 1 ? 1 : -1);
      if (n > 0) this.prefixes.set(prefix, n);
      else this.prefixes.delete(prefix);
      this.wants = new Map();
    }
  }

  private wanted(frame: string): boolean {
    let w = this.wants.get(frame);
    if (w === undefined) {
      const bytes = Buffer.from(frame).toString("latin1");
      w = false;
      for (const p of this.prefixes.keys()) {
        if (bytes.startsWith(p)) {
          w = true;
          break;
        }
      }
      this.wants.set(frame, w);
    }
    return w;
  }

  publish(r: BusRecord): void {
    if (this.prefixes.size === 0 || this.closing) return;
    const frame = `${r.store}.${r.topic}`;
    if (!this.wanted(frame)) return;
    const payload = this.settings.pubEncoding === "msgpack" ? eventMsgpack(r) : Buffer.from(eventJson(r));
    this.sent++;
    this.sock.send([frame, payload]).catch(this.noop);
  }

  close(): Promise<void> {
    this.closing = true;
    return releaseSocket(this.sock, this.settings.portReleaseWaitMs, this.log);
  }
}
