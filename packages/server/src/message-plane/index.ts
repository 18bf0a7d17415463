import type { LocalBus, LocalTopicInfo } from "../bus/bus.js";
import { DEFAULT_BUS_LIMITS } from "../bus/limits.js";
import type { Bus } from "../bus/types.js";
import { IngestServer, type IngestStats } from "./ingest-server.js";
import { type PlaneLogger, silentLogger } from "./log.js";
import { PubServer, type PubStats } from "./pub-server.js";
import { RpcServer, type RpcStats } from "./rpc-server.js";
import { type MessagePlaneSettings, resolveMessagePlaneSettings } from "./settings.js";

export { PROTOCOL_VERSION } from "./envelope.js";
export type { PlaneLogger } from "./log.js";
export {
  DEFAULT_MESSAGE_PLANE_SETTINGS,
  type MessagePlaneSettings,
  resolveMessagePlaneSettings,
} from "./settings.js";

export interface MessagePlaneStats {
  rpc: RpcStats;
  ingest: IngestStats;
  pub: PubStats;
}

export interface MessagePlane {
  /** The bound ports (the real ones when 0 was asked for). */
  ports: { rpc: number; pub: number; ingest: number };
  endpoints: { rpc: string; pub: string; ingest: string };
  stats(): MessagePlaneStats;
  /** Closes the three sockets (linger 0) and stops the PUB feed. The bus stays open: it is the caller's. */
  close(): Promise<void>;
}

export type StartMessagePlaneOptions = Partial<MessagePlaneSettings> & { log?: PlaneLogger };

/**
 * The ZeroMQ message plane over a bus (reference §5): RPC (ROUTER), PUB (XPUB) and INGEST (PULL), bound on
 * `settings.host`. Works with any Bus; with the bus of createBus() it also gets the batch size shortcut, snapshot
 * "replace" and list_topics' created_at/last_ts.
 */
export async function startMessagePlane(bus: Bus, opts: StartMessagePlaneOptions = {}): Promise<MessagePlane> {
  const { log: logger, ...rest } = opts;
  const settings = resolveMessagePlaneSettings(rest);
  const log = logger ?? silentLogger;
  const local = bus as Partial<LocalBus> & Bus;
  const limits = local.limits ?? DEFAULT_BUS_LIMITS;
  const startedAt = Date.now();

  const pub = new PubServer(settings, log);
  const ingest = new IngestServer(
    {
      // A plain Bus ignores the options argument.
      publishMany: (inputs, o) => (bus as LocalBus).publishMany(inputs, o),
      clearTopic: local.clearTopic?.bind(bus),
    },
    settings,
    log,
  );
  const rpc: RpcServer = new RpcServer(
    {
      bus: {
        publish: (i) => bus.publish(i),
        recent: (s, o) => bus.recent(s, o),
        since: (s, a, o) => bus.since(s, a, o),
        query: (q) => bus.query(q),
        topics: (s) => bus.topics(s) as LocalTopicInfo[],
        limits,
      },
      maxPlanDepth: settings.maxPlanDepth,
      health: (): Record<string, unknown> => ({
        uptime_s: (Date.now() - startedAt) / 1000,
        rpc: rpc.stats(),
        ingest: ingest.stats(),
        pub: pub.stats(),
        ...(local.stats ? { bus: local.stats() } : {}),
      }),
    },
    settings,
    log,
  );

  const endpoint = (port: number) => `tcp://${settings.host}:${port === 0 ? "*" : port}`;
  const portOf = (ep: string) => Number(/:(\d+)$/.exec(ep)?.[1] ?? 0);
  const opened = [rpc, pub, ingest];
  let unsubscribe = () => {};
  try {
    const rpcEp = await bindOrExplain("RPC", () => rpc.bind(endpoint(settings.rpcPort)));
    const pubEp = await bindOrExplain("PUB", () => pub.bind(endpoint(settings.pubPort)));
    const ingestEp = await bindOrExplain("INGEST", () => ingest.bind(endpoint(settings.ingestPort)));
    unsubscribe = bus.subscribe({}, (r) => pub.publish(r));
    if (!["127.0.0.1", "localhost", "::1"].includes(settings.host)) {
      log.warn({ host: settings.host }, "message plane bound beyond loopback: its sockets have no authentication");
    }
    log.info({ rpc: rpcEp, pub: pubEp, ingest: ingestEp }, "message plane listening");
    let closed = false;
    return {
      ports: { rpc: portOf(rpcEp), pub: portOf(pubEp), ingest: portOf(ingestEp) },
      endpoints: { rpc: rpcEp, pub: pubEp, ingest: ingestEp },
      stats: () => ({ rpc: rpc.stats(), ingest: ingest.stats(), pub: pub.stats() }),
      async close() {
        if (closed) return;
        closed = true;
        unsubscribe();
        await Promise.all(opened.map((s) => s.close()));
      },
    };
  } catch (err) {
    unsubscribe();
    await Promise.all(opened.map((s) => s.close()));
    throw err;
  }
}

async function bindOrExplain(what: string, bind: () => Promise<string>): Promise<string> {
  try {
    return await bind();
  } catch (err) {
    throw new Error(`message plane: cannot bind the ${what} socket: ${(err as Error).message}`, { cause: err });
  }
}
