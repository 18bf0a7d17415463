import { ENV_ALLOWLIST } from "../config/defaults.js";

/**
 * The environment a plugin starts with: a short allowlist of the host's variables plus what its manifest sets.
 * Host secrets (tokens, database URLs, NODE_OPTIONS…) never leak into plugins; leaving NODE_EXTRA_CA_CERTS out also
 * saves every Node plugin ~40 ms of start-up (reference/ipc-baselines.md).
 */
export function pluginEnvironment(
  manifestEnv: Record<string, string>,
  extra: Record<string, string>,
  hostEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ENV_ALLOWLIST) {
    const v = hostEnv[key];
    if (v !== undefined) env[key] = v;
  }
  return { ...env, ...extra, ...manifestEnv };
}
