import { InvalidArgumentError } from '@soo/core';
import type { AgentId, ArrayStep, MultiAgentEnv, StepResult } from './types.js';
import { toRecord } from './types.js';

/** Implements the dict-based parallel API on top of the index-based one. */
export abstract class BaseEnv implements MultiAgentEnv {
  abstract readonly possibleAgents: readonly AgentId[];
  abstract readonly obsDims: readonly number[];
  abstract readonly actDims: readonly number[];
  abstract readonly maxCycles: number;
  abstract get t(): number;
  abstract resetArrays(seed?: number): Float64Array[];
  abstract stepArrays(actions: readonly (ArrayLike<number> | number)[]): ArrayStep;
  /** Extra per-agent information for the dict API (positions, trap flag...). */
  protected abstract infoFor(agentIndex: number): Record<string, unknown>;

  reset(seed?: number): Record<AgentId, Float64Array> {
    return toRecord(
      this.possibleAgents,
      this.resetArrays(seed).map((o) => Float64Array.from(o)),
    );
  }

  step(actions: Record<AgentId, ArrayLike<number> | number>): StepResult {
    const ordered = this.possibleAgents.map((id) => {
      const a = actions[id];
      if (a === undefined)
        throw new InvalidArgumentError('INVALID_ARGUMENT', `step(): no action for agent "${id}"`);
      return a;
    });
    const r = this.stepArrays(ordered);
    const ids = this.possibleAgents;
    return {
      observations: toRecord(
        ids,
        r.obs.map((o) => Float64Array.from(o)),
      ),
      rewards: toRecord(ids, Array.from(r.rewards)),
      terminations: toRecord(
        ids,
        ids.map(() => false),
      ),
      truncations: toRecord(
        ids,
        ids.map(() => r.truncated),
      ),
      infos: toRecord(
        ids,
        ids.map((_, i) => this.infoFor(i)),
      ),
    };
  }
}

/** Throws unless `a` is a numeric vector of length `n`. */
export function checkVector(a: ArrayLike<number> | number, n: number, who: string): ArrayLike<number> {
  if (typeof a === 'number' || a.length !== n) {
    throw new InvalidArgumentError('INVALID_ARGUMENT', `${who}: expected an action vector of length ${n}`);
  }
  return a;
}
