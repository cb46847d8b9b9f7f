/**
 * A run folder is locked while a process writes it: `<dir>/.soo.lock` holds {pid, host, started}. The
 * lock file appears whole and exclusively (a hard link of a complete temp file); a second writer gets RUN_LOCKED naming the holder's pid and
 * host. A lock left by a process that no longer runs on this host (killed with SIGKILL, a crash) is stale
 * and is taken over; so is one from another host when the caller's `holderGone` says so (its scheduler
 * job left the queue: a pre-empted cluster task).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { RunError } from '../errors.js';

export const LOCK_FILE = '.soo.lock';

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command?: string;
  /** The scheduler job that holds the lock (e.g. a Slurm array task "12_3"), when there is one. */
  job?: string;
}

export interface LockOptions {
  /** What writes the folder (recorded in the lock). */
  command?: string;
  /** The scheduler job of this process (recorded in the lock, for `holderGone` of a later writer). */
  job?: string;
  /**
   * For a holder on another host (whose pid cannot be checked from here): whether it is gone, e.g. its
   * scheduler job has left the queue. Gone holders' locks are stale and taken over.
   */
  holderGone?: (holder: LockInfo) => boolean | Promise<boolean>;
}

export interface RunLock {
  readonly file: string;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(file: string): Promise<LockInfo | null> {
  try {
    const j = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<LockInfo>;
    if (typeof j.pid === 'number' && typeof j.host === 'string')
      return {
        pid: j.pid,
        host: j.host,
        started: String(j.started ?? ''),
        ...(typeof j.job === 'string' ? { job: j.job } : {}),
      };
  } catch {
    // unreadable or half-written: treated as stale below
  }
  return null;
}

/** Take the lock of run folder `dir` (which must exist); `options` as a string is the command. */
export async function lockRunDir(dir: string, options: string | LockOptions = {}): Promise<RunLock> {
  const opts: LockOptions = typeof options === 'string' ? { command: options } : options;
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    ...(opts.command ? { command: opts.command } : {}),
    ...(opts.job ? { job: opts.job } : {}),
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    let held = false;
    // Written whole to a temp file, then hard-linked to the lock name: link() fails with EEXIST when the
    // lock is held, and a crash never leaves a half-written lock.
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fsp.writeFile(tmp, JSON.stringify(me) + '\n');
      try {
        await fsp.link(tmp, file);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') held = true;
        else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') {
          // no hard links here (some FUSE and SMB mounts): an exclusive create instead
          try {
            await fsp.writeFile(file, JSON.stringify(me) + '\n', { flag: 'wx' });
          } catch (e2) {
            if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
            held = true;
          }
        } else throw e;
      }
    } finally {
      await fsp.rm(tmp, { force: true });
    }
    if (!held) {
      let released = false;
      return {
        file,
        release: async () => {
          if (released) return;
          released = true;
          const held = await readLock(file);
          if (held && held.pid === me.pid && held.host === me.host) await fsp.rm(file, { force: true });
        },
      };
    }
    const holder = await readLock(file);
    if (holder && holder.host === me.host && holder.pid === me.pid) {
      throw new RunError('RUN_LOCKED', `${dir}: this process already writes this run folder (lock ${file})`, {
        file,
        field: 'pid',
      });
    }
    const holderAlive =
      holder &&
      (holder.host === me.host ? alive(holder.pid) : !(opts.holderGone && (await opts.holderGone(holder))));
    if (holder && holderAlive) {
      throw new RunError(
        'RUN_LOCKED',
        `${dir}: another soo process is writing this run folder (pid ${holder.pid} on host ${holder.host}${holder.job ? `, job ${holder.job}` : ''}, since ${holder.started}); wait for it, stop it, or choose another --out. If that process is gone, delete ${file}`,
        { file, field: 'pid' },
      );
    }
    // Stale (holder gone, or an unreadable lock file): take it over.
    await fsp.rm(file, { force: true });
  }
  throw new RunError(
    'RUN_LOCKED',
    `${dir}: could not take the lock ${file} (another process keeps taking it)`,
    {
      file,
      field: 'pid',
    },
  );
}
