import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";
import { random16 } from "./ids.js";

/**
 * Run tokens: `base64url(payload) "." base64url(HMAC-SHA256(secret, payload_b64))`, payload
 * `{run_id, exp, nonce, perm}` — the format of the reference (§2.2), so its clients keep working. The secret is
 * generated per installation (secrets.ts), never a built-in default.
 */
export interface RunTokenPayload {
  run_id: string;
  exp: number;
  nonce: string;
  perm: "read";
}

export class RunTokens {
  /** Imported once: handing createHmac the raw bytes imports the key again on every token. */
  private readonly key: KeyObject;

  constructor(
    secret: Buffer,
    private readonly ttlMs: number,
  ) {
    if (secret.length < 16) throw new Error("run token secret is too short (need ≥ 16 bytes)");
    this.key = createSecretKey(secret);
  }

  issue(runId: string, now = Date.now()): { token: string; expires_at: number } {
    const payload: RunTokenPayload = {
      run_id: runId,
      exp: Math.floor((now + this.ttlMs) / 1000),
      nonce: Buffer.from(random16()).toString("base64url"),
      perm: "read",
    };
    const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return { token: `${body}.${this.sign(body)}`, expires_at: payload.exp };
  }

  /** Returns the payload, or throws an Error whose message says what is wrong ("expired", "bad signature"…). */
  verify(token: string, now = Date.now()): RunTokenPayload {
    if (typeof token !== "string" || token.length > 4096) throw new Error("malformed token");
    const parts = token.split(".");
    if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error("malformed token");
    const [body, sig] = parts as [string, string];
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(sig);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new Error("bad signature");
    let payload: RunTokenPayload;
    try {
      payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as RunTokenPayload;
    } catch {
      throw new Error("malformed payload");
    }
    if (typeof payload.run_id !== "string" || !payload.run_id) throw new Error("token has no run_id");
    if (typeof payload.exp !== "number" || !Number.isInteger(payload.exp)) throw new Error("token has no valid exp");
    if (payload.exp * 1000 <= now) throw new Error("expired");
    return payload;
  }

  private sign(body: string): string {
    return createHmac("sha256", this.key).update(body).digest("base64url");
  }
}
