import { randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";

/**
 * Replaces `file` with `data` so that a reader — or the file after a crash at any instant — sees either the old
 * content or the new one, never a mix: the data goes to a temp file in the same folder (rename is only atomic within
 * one file system), is fsynced, and is renamed over the target; then the folder is fsynced so the rename itself
 * survives a power cut. On any failure the temp file is removed and the old file is untouched.
 */
export async function atomicWrite(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = tempName(file);
  // Keep the permissions the file had: a config made private (0600) by its owner must stay private.
  const existing = (await fsp.stat(file).catch(() => undefined))?.mode;
  let handle: fsp.FileHandle | undefined;
  try {
    // "wx": never follow or reuse something already at the temp path (a symlink planted there, a stale file).
    handle = await fsp.open(tmp, "wx", (existing ?? 0o644) & 0o7777);
    // open() applies the umask; chmod gives back the exact bits the old file had.
    if (existing !== undefined) await handle.chmod(existing & 0o7777);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await syncDir(dir);
}

/** The same, synchronously; for callers outside the event loop's async world (exit paths, child test processes). */
export function atomicWriteSync(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  const tmp = tempName(file);
  const existing = fs.statSync(file, { throwIfNoEntry: false })?.mode;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "wx", (existing ?? 0o644) & 0o7777);
    if (existing !== undefined) fs.fchmodSync(fd, existing & 0o7777);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch (e) {
    if (!dirSyncUnsupported(e)) throw e;
  }
}

/** Hidden, unique, and recognisable (`.<name>.<pid>.<random>.tmp`) so a leftover from a crash is easy to spot. */
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
}

async function syncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, "r");
    await h.sync();
  } catch (e) {
    if (!dirSyncUnsupported(e)) throw e;
  } finally {
    await h?.close().catch(() => undefined);
  }
}

/** Some platforms (Windows, some network file systems) cannot open or fsync a folder; the rename is done anyway. */
function dirSyncUnsupported(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "EISDIR" || code === "EINVAL" || code === "EPERM" || code === "EACCES" || code === "ENOTSUP";
}

/**
 * One queue per key: `run(key, fn)` starts `fn` only after every earlier `fn` of the same key has settled. Config
 * writes are read-modify-write (fill protected fields from the current file, update profiles.toml), so two requests
 * for one plugin must not interleave; requests for different plugins do not wait for each other.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(() => fn());
    // The tail never rejects, so one failed write does not fail the ones queued behind it.
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // Drop the entry when nothing else queued behind us, so the map does not grow with every plugin ever written.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
