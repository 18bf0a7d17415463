import { type HandshakeResult, RpcError } from "@plugd/protocol";
import { HandshakeResultSchema } from "@plugd/protocol/schemas";
import { ajv, describeErrors, summarize } from "../validation/ajv.js";

const check = ajv.compile(HandshakeResultSchema);

/** The plugin's handshake answer is validated once here, at the edge; inside plugd it is trusted. */
export function validateHandshake(pluginId: string, answer: unknown): HandshakeResult {
  if (!check(answer)) {
    const problems = describeErrors(check.errors);
    throw RpcError.of(
      "PLUGIN_UNAVAILABLE",
      `plugin '${pluginId}' answered the handshake with an invalid result: ${summarize(problems)}`,
      { problems },
    );
  }
  const result = answer as HandshakeResult;
  const seen = new Set<string>();
  for (const e of result.entries) {
    if (seen.has(e.id)) {
      throw RpcError.of("PLUGIN_UNAVAILABLE", `plugin '${pluginId}' declares entry '${e.id}' twice`);
    }
    seen.add(e.id);
  }
  return result;
}
