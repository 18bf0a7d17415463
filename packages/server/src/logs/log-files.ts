import fs from "node:fs";
import path from "node:path";

/** The id that names the server's own log (as in the reference): `_server.log`. */
export const SERVER_LOG_ID = "_server";

/**
 * A log id becomes a file name, so it is held to the plugin-id alphabet; that alone rules out `..`, `/` and `\`
 * (the reference checks those separately because its pattern was looser).
 */
const LOG_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function isValidLogId(id: string): boolean {
  return LOG_ID.test(id);
}

export function liveFileName(id: string): string {
  return `${id}.log`;
}

export function rotatedPath(liveFile: string, n: number): string {
  return `${liveFile}.${n}`;
}

export interface LogFileInfo {
  filename: string;
  size: number;
  /** Epoch seconds, as the reference (a float). */
  modified: number;
}

/** The rotation index of `name` for log `id`: 0 for the live file, n for `.log.n`, undefined if it is not one of id's. */
export function rotationIndex(id: string, name: string): number | undefined {
  const live = liveFileName(id);
  if (name === live) return 0;
  if (!name.startsWith(`${live}.`)) return undefined;
  const n = Number(name.slice(live.length + 1));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Id's files in rotation order (live, .1, .2 …): newest content first, which is the order a tail reads them in. */
export function filesInRotationOrder(dir: string, id: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, n: rotationIndex(id, name) }))
    .filter((f): f is { name: string; n: number } => f.n !== undefined)
    .sort((a, b) => a.n - b.n)
    .map((f) => f.name);
}

/** GET /plugin/:id/logs/files: every file of the log, newest (by modification time) first. */
export async function listLogFiles(dir: string, id: string): Promise<LogFileInfo[]> {
  const out: Array<LogFileInfo & { n: number }> = [];
  for (const name of filesInRotationOrder(dir, id)) {
    try {
      const st = await fs.promises.stat(path.join(dir, name));
      out.push({ filename: name, size: st.size, modified: st.mtimeMs / 1000, n: rotationIndex(id, name) ?? 0 });
    } catch {
      // Rotated away between readdir and stat: it is simply not there any more.
    }
  }
  // mtime first (the reference's order); the rotation index breaks ties within the filesystem's time resolution.
  out.sort((a, b) => b.modified - a.modified || a.n - b.n);
  return out.map(({ n: _n, ...f }) => f);
}
