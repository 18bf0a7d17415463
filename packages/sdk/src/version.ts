/** Sent in the handshake so the host can check the manifest's `[plugin.sdk]` range. Kept in step with package.json by hand: reading package.json at start-up would cost every plugin a file read. */
export const SDK_NAME = "@plugd/sdk";
export const SDK_VERSION = "0.1.0";
