export { type DiscoverOptions, discoverPlugins, HOST_SDK_VERSION } from "./discover.js";
export { loadManifest, ManifestError, parseManifest, pythonSdkDir, resolvePython } from "./parse.js";
export type * from "./types.js";
export { checkRanges, type RangeCheck, toSemverRange } from "./versions.js";
