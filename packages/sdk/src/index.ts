// First: moves console output off stdout before anything else (including the plugin's own module) can print.
import "./console.js";

export { redirectConsole } from "./console.js";
export { definePlugin, entry } from "./define.js";
export { PluginError } from "./errors.js";
export { describeEntries, type ServeOptions, serve } from "./runtime.js";
export type { FromSchema, JsonSchema } from "./schema.js";
export { serveStdio } from "./stdio.js";
export type * from "./types.js";
export { SDK_NAME, SDK_VERSION } from "./version.js";
