import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/**
 * Write a file atomically: write to a temp file in the same folder, fsync, then rename over the target.
 * A crash mid-write leaves the old file intact.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array | Uint8Array[]): Promise<void> {
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'w');
  try {
    if (Array.isArray(data)) {
      for (const chunk of data) await fh.write(chunk);
    } else {
      await fh.writeFile(data);
    }
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

/** fsync a folder so that a rename in it survives a power cut (best effort: some filesystems refuse). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // EISDIR / EINVAL / EPERM on filesystems that cannot sync folders: the rename is still atomic.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Remove the temp files that `writeFileAtomic` leaves when its process is killed mid-write
 * (`.<name>.<12 hex>.tmp` in `dir`); run at the start of a (resumed) run, while its folder is locked.
 */
export async function removeStaleTemps(dir: string): Promise<void> {
  let names: string[] = [];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  await Promise.all(
    names
      .filter((n) => /^\..+\.[0-9a-f]{12}\.tmp$/.test(n))
      .map((n) => fsp.rm(path.join(dir, n), { force: true })),
  );
}

export async function readJsonFile(file: string): Promise<unknown> {
  const text = await fsp.readFile(file, 'utf8');
  return JSON.parse(text) as unknown;
}
