/**
 * A PettingZoo-like parallel API plus an index-based fast path that the trainers use.
 */

export type AgentId = string;

export interface StepResult {
  observations: Record<AgentId, Float64Array>;
  rewards: Record<AgentId, number>;
  terminations: Record<AgentId, boolean>;
  truncations: Record<AgentId, boolean>;
  infos: Record<AgentId, Record<string, unknown>>;
}

/** What the index-based `stepArrays` returns; arrays are owned by the env and reused across steps. */
export interface ArrayStep {
  obs: Float64Array[];
  rewards: Float64Array;
  /** True once `maxCycles` steps have run since the last reset (PettingZoo truncation). */
  truncated: boolean;
}

export interface MultiAgentEnv {
  /** Agent names in world order (adversary first). */
  readonly possibleAgents: readonly AgentId[];
  readonly obsDims: readonly number[];
  readonly actDims: readonly number[];
  readonly maxCycles: number;
  /** Steps taken since the last reset. */
  readonly t: number;
  /** Resets; with a seed the env's random stream restarts from it, without one it continues. */
  reset(seed?: number): Record<AgentId, Float64Array>;
  step(actions: Record<AgentId, ArrayLike<number> | number>): StepResult;
  /** Fast path: observations in agent order (owned by the env, overwritten by the next call). */
  resetArrays(seed?: number): Float64Array[];
  stepArrays(actions: readonly (ArrayLike<number> | number)[]): ArrayStep;
}

export function toRecord<T>(ids: readonly AgentId[], values: readonly T[]): Record<AgentId, T> {
  const out: Record<AgentId, T> = {};
  ids.forEach((id, i) => (out[id] = values[i] as T));
  return out;
}
