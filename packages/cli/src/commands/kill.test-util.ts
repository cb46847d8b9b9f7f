// Kill-test harness shared by the SIGKILL tests (train, experiment run, rl train): spawns the built `soo`,
// kills it with SIGKILL at a chosen point, and checks that nothing in the output folder is half-written.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '@soo/core';

export const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));

/** Kills per test: `SOO_KILLS` overrides (the CI share is the default). */
export const kills = (ciDefault: number): number => Number(process.env.SOO_KILLS ?? ciDefault);

/** A small seeded PRNG (mulberry32): the kill points are reproducible from the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface KillPlan {
  /** SOO_FAULT for the child (e.g. "kill:ckpt-swap@2"): the child kills itself there. */
  fault?: string;
  /** SIGKILL after this many JSON progress lines on stdout (0: as soon as the child prints anything) ... */
  afterLines?: number;
  /** ... plus this many ms. */
  delayMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `soo <args>`; kill it with SIGKILL as `plan` says (none: run to the end). */
export function runSoo(
  args: string[],
  plan: KillPlan | null = null,
  env: NodeJS.ProcessEnv = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env, ...(plan?.fault ? { SOO_FAULT: plan.fault } : {}) },
    });
    let stdout = '';
    let stderr = '';
    let armed = false;
    const arm = (): void => {
      if (armed || !plan || plan.fault || plan.afterLines === undefined) return;
      const lines = stdout.split('\n').filter((l) => l.includes('"event":"progress"')).length;
      if (lines >= plan.afterLines) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), plan.delayMs ?? 0);
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      arm();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Every file under `dir` except temp names: JSON parses, JSONL lines parse, safetensors open and read. */
export async function assertNoHalfWrittenFiles(dir: string): Promise<string[]> {
  const problems: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of readdirSync(d)) {
      const f = path.join(d, name);
      // temp files and folders of atomic writes are allowed to be partial: nothing reads them
      if (/\.tmp$/.test(name) || name === 'checkpoint.old') continue;
      if (statSync(f).isDirectory()) {
        await walk(f);
        continue;
      }
      try {
        if (name.endsWith('.json') || name === '.soo.lock') JSON.parse(readFileSync(f, 'utf8'));
        else if (name.endsWith('.jsonl')) {
          const text = readFileSync(f, 'utf8');
          if (text.length && !text.endsWith('\n')) throw new Error('last line not terminated');
          for (const l of text.split('\n').filter((x) => x.trim())) JSON.parse(l);
        } else if (name.endsWith('.safetensors')) {
          const st = await SafetensorsFile.open(f);
          try {
            for (const n of st.names()) await st.readFloat32(n);
          } finally {
            await st.close();
          }
        } else if (name.endsWith('.svg')) {
          if (!readFileSync(f, 'utf8').trimEnd().endsWith('</svg>')) throw new Error('truncated svg');
        }
      } catch (e) {
        problems.push(`${path.relative(dir, f)}: ${(e as Error).message}`);
      }
    }
  };
  if (existsSync(dir)) await walk(dir);
  return problems;
}

/** Leftovers that a completed run must not have: temp files, temp checkpoint folders, the lock. */
export function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const f = path.join(d, name);
      if (/\.tmp$/.test(name) || name === 'checkpoint.old' || name === '.soo.lock')
        out.push(path.relative(dir, f));
      if (statSync(f).isDirectory()) walk(f);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}
