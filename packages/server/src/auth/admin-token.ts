import { randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const ADMIN_TOKEN_FILE = "admin.token";

/**
 * The admin token: generated on first start, kept in the data dir with mode 0600, rotated by `plugd token rotate`.
 * Returns whether it was just created, so the server prints it exactly once.
 */
export function loadOrCreateAdminToken(dataDir: string): { token: string; created: boolean; file: string } {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  try {
    const token = fs.readFileSync(file, "utf8").trim();
    if (token.length >= 32) return { token, created: false, file };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return { token: writeToken(dataDir), created: true, file };
}

/** Replaces the token; the running server picks the new one up (it re-reads the file when it changes). */
export function rotateAdminToken(dataDir: string): string {
  return writeToken(dataDir);
}

function writeToken(dataDir: string): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const token = `plugd_${randomBytes(24).toString("base64url")}`;
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return token;
}

/** Compares in constant time, whatever the lengths. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Keeps the current token, re-reading the file when it changes on disk (after `plugd token rotate`). */
export class AdminToken {
  private token: string;
  private mtimeMs = 0;

  constructor(private readonly file: string) {
    this.token = this.read() ?? "";
  }

  current(): string | undefined {
    try {
      const st = fs.statSync(this.file);
      if (st.mtimeMs !== this.mtimeMs) this.token = this.read() ?? this.token;
    } catch {
      // the file went away: keep the last known token rather than opening the server
    }
    return this.token || undefined;
  }

  private read(): string | undefined {
    try {
      const st = fs.statSync(this.file);
      this.mtimeMs = st.mtimeMs;
      return fs.readFileSync(this.file, "utf8").trim() || undefined;
    } catch {
      return undefined;
    }
  }
}
