import type { RlProgress } from '../cli.js';

/**
 * What `reproduce()` reports while it runs, one object per call of its `onEvent` callback. The CLI renders
 * these as stderr lines and progress bars (or JSON lines); a test or a notebook can just collect them.
 */
export type ReproduceEvent =
  /** A phase whose folder already has `phase.json`: its earlier result is reused. */
  | { type: 'phase-skipped'; phase: string; dir: string }
  | { type: 'phase-started'; phase: string; dir: string }
  /**
   * Progress inside a phase. `parallel` is true when other phases run at the same time (a renderer should
   * then print plain lines: two redrawn bars would overwrite each other).
   */
  | { type: 'phase-progress'; phase: string; parallel: boolean; progress: RlProgress }
  /** The phase's own work is done (before its folder is renamed into place); `values` are its headline numbers. */
  | { type: 'phase-work-done'; phase: string; values?: Record<string, number> }
  | { type: 'phase-finished'; phase: string; dir: string; seconds: number }
  /** `signal` was aborted: workers are being stopped; finished phases are kept. */
  | { type: 'interrupted' }
  | { type: 'report-written'; file: string };

export type ReproduceEventListener = (event: ReproduceEvent) => void;
