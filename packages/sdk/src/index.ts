export { definePlugin, entry } from "./define.js";
export { PluginError } from "./errors.js";
export { SDK_NAME, SDK_VERSION, type ServeOptions, serve } from "./runtime.js";
export type * from "./types.js";
