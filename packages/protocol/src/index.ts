export * from "./errors.js";
export * from "./framing.js";
export * from "./jsonrpc.js";
export * from "./methods.js";
export * from "./peer.js";
export * from "./version.js";
