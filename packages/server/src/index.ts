export { Defaults } from "./config/defaults.js";
export * from "./host/host.js";
export * from "./manifest/index.js";
export type { PluginState, PluginStatus } from "./supervisor/supervisor.js";
