/**
 * Run settings, recorded at the start of a run in `<out>/run_settings.json` and checked on resume:
 *
 *   { "version": 1, "status": "running" | "interrupted" | "completed",
 *     "settings": { "model": ..., "model.weights": ..., "data": ..., "preset": ..., "lr": ..., ... },
 *     "history": [ { "at", "event": "start" | "resume" | "interrupted" | "completed", "step", "changes"? } ] }
 *
 * Settings are a flat map from field name to a JSON value, so that a mismatch is reported as one line
 * listing the fields that differ, and `--resume-override FIELD` names exactly one of them.
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { FormatError, RunError } from '../errors.js';
import { writeFileAtomic } from '../fs.js';

export const RUN_SETTINGS_FILE = 'run_settings.json';

export type RunSettings = Record<string, unknown>;

export type RunStatus = 'running' | 'interrupted' | 'completed';

export interface RunHistoryEntry {
  at: string;
  event: 'start' | 'resume' | 'interrupted' | 'completed' | 'forced';
  step: number;
  /** Fields changed on this resume by --resume-override: field -> [recorded, now]. */
  changes?: Record<string, [unknown, unknown]>;
}

export interface RunRecord {
  version: 1;
  status: RunStatus;
  settings: RunSettings;
  history: RunHistoryEntry[];
}

/** sha256 of any JSON-able value (stable: object keys sorted). */
export function hashJson(value: unknown): string {
  const stable = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(stable);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .map((k) => [k, stable((v as Record<string, unknown>)[k])]),
      );
    return v;
  };
  return createHash('sha256')
    .update(JSON.stringify(stable(value)))
    .digest('hex');
}

/**
 * Fingerprint of a model folder's weights: name, size and mtime of `model.safetensors`, or of the index and
 * the shards it names. Cheap (no read of the weights); a re-downloaded or edited weight file changes it.
 */
export async function fingerprintWeights(dir: string): Promise<string> {
  const index = path.join(dir, 'model.safetensors.index.json');
  let names = ['model.safetensors'];
  if (!existsSync(path.join(dir, names[0] as string)) && existsSync(index)) {
    names = ['model.safetensors.index.json'];
    try {
      const j = JSON.parse(await fsp.readFile(index, 'utf8')) as { weight_map?: Record<string, unknown> };
      names.push(...new Set(Object.values(j.weight_map ?? {}).map(String)));
    } catch {
      // an unreadable index: the loader reports it; the fingerprint covers the index file itself
    }
  }
  const parts: string[] = [];
  for (const n of names.sort()) {
    try {
      const st = await fsp.stat(path.join(dir, n));
      parts.push(`${n}:${st.size}:${Math.round(st.mtimeMs)}`);
    } catch {
      parts.push(`${n}:missing`);
    }
  }
  return parts.join(',');
}

const fmt = (v: unknown): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
};

/** Fields whose values differ between the recorded settings and the current ones. */
export function diffSettings(recorded: RunSettings, now: RunSettings): string[] {
  const keys = new Set([...Object.keys(recorded), ...Object.keys(now)]);
  return [...keys].filter((k) => hashJson(recorded[k] ?? null) !== hashJson(now[k] ?? null)).sort();
}

export async function readRunRecord(dir: string): Promise<RunRecord | null> {
  const file = path.join(dir, RUN_SETTINGS_FILE);
  if (!existsSync(file)) return null;
  let j: Partial<RunRecord>;
  try {
    j = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<RunRecord>;
  } catch (e) {
    throw new FormatError('DATA_INVALID', `${file}: unreadable run settings (${(e as Error).message})`, {
      file,
      field: 'settings',
      cause: e,
    });
  }
  if (
    !j ||
    j.version !== 1 ||
    !j.settings ||
    typeof j.settings !== 'object' ||
    !Array.isArray(j.history) ||
    !['running', 'interrupted', 'completed'].includes(j.status as string)
  ) {
    throw new FormatError(
      'DATA_INVALID',
      `${file}: not a soo run record (expected version 1 with "status", "settings" and "history")`,
      { file, field: 'version' },
    );
  }
  return j as RunRecord;
}

export async function writeRunRecord(dir: string, rec: RunRecord): Promise<void> {
  await writeFileAtomic(path.join(dir, RUN_SETTINGS_FILE), JSON.stringify(rec, null, 2) + '\n');
}

/**
 * Compare the settings of a resume with the recorded ones. Differences not in `overrides` are refused with
 * one line listing every differing field; an override naming no setting at all is refused too (a typo must
 * not pass silently). Returns the changes to record in the history.
 */
export function checkResumeSettings(
  file: string,
  recorded: RunSettings,
  now: RunSettings,
  overrides: readonly string[] = [],
): Record<string, [unknown, unknown]> {
  const differing = diffSettings(recorded, now);
  const known = new Set([...Object.keys(recorded), ...Object.keys(now)]);
  for (const o of overrides) {
    if (!known.has(o))
      throw new RunError(
        'RUN_SETTINGS_MISMATCH',
        `--resume-override ${o}: not a run setting; the settings are ${[...known].sort().join(', ')}`,
        { file, field: o },
      );
  }
  const refused = differing.filter((f) => !overrides.includes(f));
  if (refused.length) {
    throw new RunError(
      'RUN_SETTINGS_MISMATCH',
      `${file}: --resume with settings that differ from the run's: ${refused.map((f) => `${f} (${fmt(recorded[f])} -> ${fmt(now[f])})`).join(', ')}; rerun with the recorded settings, or pass --resume-override ${refused.join(' --resume-override ')} to accept the change`,
      { file, field: refused.join(',') },
    );
  }
  return Object.fromEntries(differing.map((f) => [f, [recorded[f] ?? null, now[f] ?? null]]));
}
