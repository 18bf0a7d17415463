import fs from "node:fs";
import path from "node:path";

/** Where a relative path written in a plugin's config files points, or why it may not be used. */
export type Resolved = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Resolves `rel` against the plugin folder `dir` and refuses anything that could reach outside it: absolute paths,
 * `~`, any `..` segment, and symlinks (of the file or of a folder on the way) that lead out. Checking the segments
 * and not only the resolved result keeps the rule simple to state ("no .."), and the realpath check catches what
 * text alone cannot (a `profiles` folder that is a symlink to /etc).
 */
export function resolveInside(dir: string, rel: unknown): Resolved {
  if (typeof rel !== "string" || rel.trim() === "") return { ok: false, reason: "the path is empty or not a string" };
  if (rel.includes("\0")) return { ok: false, reason: "the path contains a NUL byte" };
  if (path.isAbsolute(rel) || path.win32.isAbsolute(rel) || rel.startsWith("~")) {
    return { ok: false, reason: `"${rel}" is absolute; paths are relative to the plugin folder` };
  }
  if (rel.split(/[\\/]+/).includes("..")) return { ok: false, reason: `"${rel}" contains '..'` };
  const root = path.resolve(dir);
  const target = path.resolve(root, rel);
  if (!within(root, target)) return { ok: false, reason: `"${rel}" resolves outside the plugin folder` };
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(root);
  } catch {
    return { ok: false, reason: "the plugin folder does not exist" };
  }
  // The deepest part of the path that exists decides where the rest will land once created.
  let probe = target;
  for (;;) {
    try {
      const real = fs.realpathSync(probe);
      if (!within(realRoot, real))
        return { ok: false, reason: `"${rel}" leads outside the plugin folder through a symlink` };
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && fs.lstatSync(probe, { throwIfNoEntry: false })?.isSymbolicLink()) {
        // A dangling symlink: where it points is decided later by whoever creates the target; refuse it now.
        return { ok: false, reason: `"${rel}" is a symlink to a missing file` };
      }
      if (code !== "ENOENT" && code !== "ENOTDIR") return { ok: false, reason: `"${rel}" cannot be checked (${code})` };
      const parent = path.dirname(probe);
      if (parent === probe) break;
      probe = parent;
    }
  }
  return { ok: true, path: target };
}

/** Is `p` the folder `root` or below it (textually)? */
export function within(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel.split(path.sep)[0] !== ".." && !path.isAbsolute(rel));
}
