import type { FixtureContext } from './context.js';

/** A capability a check needs (`BackendCapabilities`): a backend that lacks it skips the check. */
export type CheckNeeds = 'hooks' | 'train' | 'generate' | 'fullTraining';

export interface ConformanceCheckDef {
  /** Stable id, usable in `skip` (e.g. `soo.last`). */
  id: string;
  /** What it compares, for the test name. */
  title: string;
  needs: readonly CheckNeeds[];
  run(ctx: FixtureContext): Promise<void>;
}
