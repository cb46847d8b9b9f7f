// A one-node Slurm cluster on localhost for the tests (Debian's slurm-wlm 22.05 and munge): installed with
// apt when missing and running as root (CI's fresh machine), configured in a temp folder (its own ports,
// state, spool, munge key and socket: nothing in /etc is read or changed), started, and stopped after.
// Elsewhere `ensureSlurm` says why the Slurm tests are skipped.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo', 'scancel'];

function which(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin} || ls /usr/sbin/${bin} 2>/dev/null`], {
    encoding: 'utf8',
  });
  const p = r.stdout.trim().split('\n')[0];
  return r.status === 0 && p ? p : null;
}

/**
 * Debian's slurm-wlm and munge, installed with apt-get when a binary is missing and we run as root.
 * Returns null when everything is there, or why the Slurm tests must be skipped.
 */
export function ensureSlurm(machine: { root?: boolean; apt?: boolean; binaries?: string[] } = {}): {
  skip: string;
} | null {
  const binaries = machine.binaries ?? BINARIES;
  const missing = binaries.filter((b) => !which(b));
  if (missing.length === 0) return null;
  const root = machine.root ?? (typeof process.getuid === 'function' && process.getuid() === 0);
  const apt = machine.apt ?? which('apt-get') !== null;
  if (!root || !apt)
    return {
      skip: `${missing.join(', ')} missing and ${root ? 'apt-get is not available' : 'this is not root'}: install Debian's slurm-wlm and munge to run the Slurm tests`,
    };
  process.stderr.write('slurm tests: installing slurm-wlm and munge with apt-get\n');
  const install = ['install', '-y', '--no-install-recommends', 'slurm-wlm', 'munge'];
  let r = aptGet(install);
  if (r.status !== 0) {
    // a fresh machine's package lists may be empty: update, then try again
    const u = aptGet(['update']);
    if (u.status !== 0) throw new Error(`apt-get update failed (exit ${u.status}): ${u.output.slice(-2000)}`);
    r = aptGet(install);
  }
  if (r.status !== 0)
    throw new Error(`apt-get ${install.join(' ')} failed (exit ${r.status}): ${r.output.slice(-2000)}`);
  const still = binaries.filter((b) => !which(b));
  if (still.length) throw new Error(`apt-get install slurm-wlm munge did not provide ${still.join(', ')}`);
  return null;
}

/**
 * apt-get, non-interactive. Other test files may run apt at the same time (the docs' chromium set-up): wait
 * for dpkg's lock (DPkg::Lock::Timeout), and retry while another apt holds the package lists' lock.
 */
function aptGet(args: string[]): { status: number | null; output: string } {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const deadline = Date.now() + 900_000;
  for (;;) {
    const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
      env,
      encoding: 'utf8',
      timeout: 900_000,
    });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status === 0 || !/Could not get lock|Unable to lock/.test(output) || Date.now() > deadline)
      return { status: r.status, output };
    spawnSync('sleep', ['5']);
  }
}

export interface TestCluster {
  /** The temp folder with slurm.conf, state, spool, logs and the munge key. */
  dir: string;
  /** slurm.conf: Slurm's commands find it through SLURM_CONF (set in process.env while the cluster runs). */
  conf: string;
  /** The node's name (this host's short name) and its partition. */
  node: string;
  partition: string;
  /** Cancel every job, stop slurmd, slurmctld and munged (the processes this started), remove the folder. */
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(file: string, n = 1500): string {
  try {
    return readFileSync(file, 'utf8').slice(-n);
  } catch {
    return '(no log)';
  }
}

/**
 * Start munged, slurmctld and slurmd for a one-node cluster (2 CPUs, no cgroups: proctrack/linuxproc,
 * task/none) and wait until `sinfo` shows the node idle (`timeoutMs`, else an error with the daemons' logs).
 * Sets process.env.SLURM_CONF so that sbatch, squeue, scancel (and soo's children) use this cluster.
 */
export async function startTestCluster(
  opts: { cpus?: number; timeoutMs?: number } = {},
): Promise<TestCluster> {
  const cpus = opts.cpus ?? 2;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'soo-slurm-'));
  chmodSync(dir, 0o755);
  for (const d of ['munge', 'state', 'spool', 'log']) mkdirSync(path.join(dir, d), { mode: 0o755 });
  const key = path.join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  const socket = path.join(dir, 'munge', 'munge.sock');
  const node = os.hostname().split('.')[0] || 'localhost';
  const partition = 'debug';
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  const memMb = Math.max(256, Math.floor((os.totalmem() / 2 ** 20) * 0.5));
  const conf = path.join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      '# one-node test cluster written by soo (packages/cli/src/slurm/test-cluster.ts)',
      `ClusterName=soo${randomBytes(3).toString('hex')}`,
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      `AuthInfo=socket=${socket}`,
      'CredType=cred/munge',
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU_Memory',
      'SchedulerType=sched/backfill',
      'SlurmdParameters=config_overrides',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'MpiDefault=none',
      'ReturnToService=2',
      'InactiveLimit=0',
      'MinJobAge=600',
      'KillWait=5',
      'DefMemPerCPU=' + Math.floor(memMb / cpus),
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memMb} State=UNKNOWN`,
      `PartitionName=${partition} Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const procs: ChildProcess[] = [];
  const start = (bin: string, args: string[]): void => {
    const fd = openSync(path.join(dir, 'log', `${bin}.out`), 'a');
    const p = spawn(bin, args, { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    p.on('error', () => {});
    procs.push(p);
  };
  // if the test process dies without stop(), the daemons die with it
  const killAll = (): void => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  process.once('exit', killAll);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    spawnSync('scancel', ['--user', os.userInfo().username], { env, timeout: 30_000 });
    for (let t0 = Date.now(); Date.now() - t0 < 15_000;) {
      const q = spawnSync('squeue', ['-h'], { env, encoding: 'utf8', timeout: 10_000 });
      if (q.status !== 0 || q.stdout.trim() === '') break;
      await sleep(250);
    }
    for (const p of [...procs].reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    process.off('exit', killAll);
    if (process.env.SLURM_CONF === conf) delete process.env.SLURM_CONF;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    start('munged', [
      '-F',
      '--force',
      `--key-file=${key}`,
      `--socket=${socket}`,
      `--pid-file=${dir}/munge/munged.pid`,
      `--seed-file=${dir}/munge/munged.seed`,
      `--log-file=${dir}/log/munged.log`,
    ]);
    for (let t0 = Date.now(); !existsSync(socket); await sleep(100))
      if (Date.now() - t0 > timeoutMs) throw new Error('munged did not create its socket');
    start('slurmctld', ['-D', '-f', conf]);
    start('slurmd', ['-D', '-f', conf, '-N', node]);
    for (let t0 = Date.now(); ; await sleep(250)) {
      const r = spawnSync('sinfo', ['-h', '-n', node, '-o', '%T'], {
        env,
        encoding: 'utf8',
        timeout: 10_000,
      });
      if (r.status === 0 && r.stdout.trim() === 'idle') break;
      const dead = procs.find((p) => p.exitCode !== null || p.signalCode !== null);
      if (dead || Date.now() - t0 > timeoutMs)
        throw new Error(
          `the test Slurm cluster did not come up (${dead ? `${dead.spawnfile} exited ${dead.exitCode ?? dead.signalCode}` : `node not idle after ${timeoutMs} ms: sinfo says "${r.stdout.trim()}${r.stderr.trim()}"`})\n` +
            ['munged.log', 'slurmctld.log', 'slurmd.log', 'slurmctld.out', 'slurmd.out']
              .map((f) => `--- ${f}\n${tail(path.join(dir, 'log', f))}`)
              .join('\n'),
        );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  process.env.SLURM_CONF = conf;
  return { dir, conf, node, partition, stop };
}
