import { Defaults } from "../config/defaults.js";

/** How the message plane runs; defaults in config/defaults.ts (`messagePlane`). */
export interface MessagePlaneSettings {
  /** Read by the server to decide whether to start the plane at all; startMessagePlane ignores it. */
  enabled: boolean;
  host: string;
  /** 0 binds a free port (tests); the bound ports are returned by startMessagePlane. */
  rpcPort: number;
  pubPort: number;
  ingestPort: number;
  maxResultBytes: number;
  maxRequestBytes: number;
  maxIngestFrameBytes: number;
  ingestReceiveHwm: number;
  rpcHwm: number;
  pubSendHwm: number;
  pubEncoding: "msgpack" | "json";
  validateMode: "strict" | "warn" | "off";
  maxPlanDepth: number;
  portReleaseWaitMs: number;
}

export const DEFAULT_MESSAGE_PLANE_SETTINGS: Readonly<MessagePlaneSettings> = Object.freeze({
  ...Defaults.messagePlane,
});

export function resolveMessagePlaneSettings(overrides: Partial<MessagePlaneSettings> = {}): MessagePlaneSettings {
  const s: MessagePlaneSettings = { ...DEFAULT_MESSAGE_PLANE_SETTINGS };
  for (const [k, v] of Object.entries(overrides) as [keyof MessagePlaneSettings, unknown][]) {
    if (v !== undefined) (s as unknown as Record<string, unknown>)[k] = v;
  }
  for (const k of ["rpcPort", "pubPort", "ingestPort"] as const) {
    const p = s[k];
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`message plane ${k} must be 0..65535 (got ${p})`);
  }
  for (const k of [
    "maxResultBytes",
    "maxRequestBytes",
    "maxIngestFrameBytes",
    "ingestReceiveHwm",
    "rpcHwm",
    "pubSendHwm",
    "maxPlanDepth",
    "portReleaseWaitMs",
  ] as const) {
    const v = s[k];
    if (!Number.isInteger(v) || v < 1) throw new Error(`message plane ${k} must be a positive integer (got ${v})`);
  }
  if (s.pubEncoding !== "msgpack" && s.pubEncoding !== "json") {
    throw new Error(`message plane pubEncoding must be "msgpack" or "json" (got ${String(s.pubEncoding)})`);
  }
  if (!["strict", "warn", "off"].includes(s.validateMode)) {
    throw new Error(`message plane validateMode must be strict, warn or off (got ${String(s.validateMode)})`);
  }
  return s;
}
