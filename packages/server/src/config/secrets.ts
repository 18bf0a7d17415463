import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/**
 * A secret generated on first start and kept in the data dir (mode 0600) — never a built-in default, so two
 * installations never share one and a leaked example config reveals nothing.
 */
export function loadOrCreateSecret(dataDir: string, name: string, bytes = 32): Buffer {
  const file = path.join(dataDir, name);
  try {
    const existing = fs.readFileSync(file, "utf8").trim();
    if (existing.length >= 32) return Buffer.from(existing, "hex");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(bytes);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, secret.toString("hex"), { mode: 0o600 });
  fs.renameSync(tmp, file);
  return secret;
}
