/**
 * Guards for the folders a command reads and writes, so that no command hangs or fails with a bare errno:
 *
 * - writes under /proc or /sys are refused up front (a recursive mkdir under /proc never returns in Node);
 * - folder set-up runs under a time budget (a stalled network mount gives FS_TIMEOUT, not a silent wait);
 * - an unwritable output folder is an `OutputError` naming the flag and saying why (permission, a file in
 *   the way, a read-only or full filesystem);
 * - a model folder that is missing, or a file given as the folder, is `MODEL_DIR_NOT_FOUND` naming the flag.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { NotFoundError, OutputError } from '../errors.js';

/** Default time budget of folder set-up (mkdir + a probe write), in ms. `SOO_FS_TIMEOUT_MS` overrides. */
export const FS_SETUP_TIMEOUT_MS = 30_000;

const VIRTUAL_ROOTS = ['/proc', '/sys'];

function budget(ms?: number): number {
  if (ms !== undefined) return ms;
  const env = Number(process.env.SOO_FS_TIMEOUT_MS);
  return Number.isFinite(env) && env > 0 ? env : FS_SETUP_TIMEOUT_MS;
}

function label(flag: string | undefined): string {
  return flag ? `${flag} ` : '';
}

function underVirtual(p: string): string | null {
  for (const root of VIRTUAL_ROOTS) if (p === root || p.startsWith(root + '/')) return root;
  return null;
}

/** The real path of `p`'s nearest existing ancestor joined with the rest (symlinks into /proc count). */
function realish(p: string): string {
  let cur = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return p;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** Refuse writes under /proc or /sys (kernel filesystems: a recursive mkdir there never returns). */
export function refuseVirtualFs(dir: string, flag?: string): void {
  const abs = path.resolve(dir);
  const root = underVirtual(abs) ?? underVirtual(realish(abs));
  if (root) {
    throw new OutputError(
      'OUTPUT_VIRTUAL_FS',
      `${label(flag)}${dir}: is under ${root}, a kernel filesystem soo does not write to; choose a folder on a disk`,
      { file: dir, ...(flag ? { field: flag } : {}) },
    );
  }
}

/** Run `work` under a time budget; FS_TIMEOUT names what and where. The work itself cannot be cancelled. */
export async function withFsBudget<T>(
  what: string,
  file: string,
  work: Promise<T>,
  opts: { timeoutMs?: number; flag?: string } = {},
): Promise<T> {
  const ms = budget(opts.timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new OutputError(
            'FS_TIMEOUT',
            `${label(opts.flag)}${file}: ${what} did not finish within ${(ms / 1000).toFixed(ms < 1000 ? 1 : 0)} s (a stalled network mount or a kernel filesystem?)`,
            { file, ...(opts.flag ? { field: opts.flag } : {}) },
          ),
        ),
      ms,
    );
    timer.unref();
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One clear reason for an errno from mkdir / open / write. */
export function explainErrno(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    case 'EEXIST':
      return 'a file with that name is in the way (expected a folder)';
    case 'EROFS':
      return 'the filesystem is read-only';
    case 'ENOSPC':
    case 'EDQUOT':
      return 'no space left on the device';
    case 'ENAMETOOLONG':
      return 'the path is too long';
    case 'ELOOP':
      return 'too many symbolic links in the path';
    default:
      return code ? `cannot write (${code})` : `cannot write (${(e as Error)?.message ?? String(e)})`;
  }
}

/**
 * Make sure `dir` exists, is a folder and can be written: refuses /proc and /sys, creates the folder under
 * a time budget, and writes and removes a probe file. Errors are `OutputError`s naming `flag`.
 */
export async function prepareOutDir(
  dir: string,
  opts: { flag?: string; timeoutMs?: number } = {},
): Promise<void> {
  const flag = opts.flag;
  const fail = (e: unknown): never => {
    if (e instanceof OutputError) throw e;
    throw new OutputError(
      (e as NodeJS.ErrnoException)?.code === 'ENOSPC' ? 'DISK_FULL' : 'OUTPUT_UNWRITABLE',
      `${label(flag)}${dir}: cannot be used as the output folder: ${explainErrno(e)}`,
      { file: dir, ...(flag ? { field: flag } : {}), cause: e },
    );
  };
  refuseVirtualFs(dir, flag);
  const budgetOpts = {
    ...(flag ? { flag } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  };
  try {
    const st = await withFsBudget('checking the folder', dir, fsp.stat(dir), budgetOpts).catch(
      (e: unknown) => {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      },
    );
    if (st && !st.isDirectory()) {
      throw new OutputError(
        'OUTPUT_UNWRITABLE',
        `${label(flag)}${dir}: is a file, expected a folder (or a path that does not exist yet)`,
        { file: dir, ...(flag ? { field: flag } : {}) },
      );
    }
    if (!st) await withFsBudget('creating the folder', dir, fsp.mkdir(dir, { recursive: true }), budgetOpts);
    const probe = path.join(dir, `.soo-write-probe-${randomBytes(4).toString('hex')}`);
    await withFsBudget(
      'a test write',
      dir,
      (async () => {
        await fsp.writeFile(probe, 'ok');
        await fsp.rm(probe, { force: true });
      })(),
      budgetOpts,
    );
  } catch (e) {
    fail(e);
  }
}

/** A model folder must exist and be a folder: MODEL_DIR_NOT_FOUND naming `flag` otherwise. */
export async function checkModelDir(dir: string, flag = '--model'): Promise<void> {
  let st;
  try {
    st = await withFsBudget('reading the model folder', dir, fsp.stat(dir), { flag });
  } catch (e) {
    if (e instanceof OutputError) throw e;
    throw new NotFoundError(
      'MODEL_DIR_NOT_FOUND',
      `${flag} ${dir}: folder does not exist, expected a model folder (config.json, tokenizer.json, *.safetensors)`,
      { file: dir, field: flag, cause: e },
    );
  }
  if (!st.isDirectory()) {
    throw new NotFoundError(
      'MODEL_DIR_NOT_FOUND',
      `${flag} ${dir}: is a file, expected the model folder that holds it${path.basename(dir).includes('.') ? ` (try ${flag} ${path.dirname(dir)})` : ''}`,
      { file: dir, field: flag },
    );
  }
}
