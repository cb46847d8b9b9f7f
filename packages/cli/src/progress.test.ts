import { describe, expect, it, vi } from 'vitest';
import { createProgress, heartbeat } from './progress.js';
import { captureIo } from './testing.js';

describe('progress', () => {
  it('--json writes one JSON line per update and a done event', () => {
    const io = captureIo();
    const p = createProgress(io, { label: 'step', total: 3, json: true });
    p.update(1, { loss: 0.5 });
    p.update(2, { loss: 0.25 });
    p.finish();
    const lines = io
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ event: 'progress', label: 'step', done: 1, total: 3, loss: 0.5 });
    expect(lines[2]).toMatchObject({ event: 'done', done: 2, loss: 0.25 });
    expect(io.stderr()).toBe('');
  });

  it('a terminal gets a redrawn bar with ETA', () => {
    const cap = captureIo();
    const tty = { out: cap.out, err: cap.err, isTTY: true };
    const p = createProgress(tty, { label: 'train', total: 4, json: false });
    p.update(2, { loss: 1.5 });
    p.finish();
    expect(cap.stderr()).toContain('\rtrain ');
    expect(cap.stderr()).toContain('2/4');
    expect(cap.stderr()).toContain('ETA');
    expect(cap.stderr().endsWith('\n')).toBe(true);
  });

  it('a pipe gets plain lines at most every 10%', () => {
    const io = captureIo();
    const p = createProgress(io, { label: 'step', total: 100, json: false });
    for (let i = 1; i <= 100; i++) p.update(i, { loss: 1 / i });
    p.finish();
    const lines = io.stderr().trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.length).toBeLessThanOrEqual(12);
  });

  it('a pipe does not repeat the last line on finish (no two "step 1/1" lines)', () => {
    const io = captureIo();
    const p = createProgress(io, { label: 'step', total: 1, json: false });
    p.update(1, { loss: 0.5 });
    p.finish();
    expect(io.stderr().match(/step 1\/1/g)).toHaveLength(1);
    const changed = captureIo();
    const q = createProgress(changed, { label: 'step', total: 1, json: false });
    q.update(1, { loss: 0.5 });
    q.finish({ accuracy: 1 });
    expect(changed.stderr().trim().split('\n')).toHaveLength(2);
  });

  it('finish(values, total) ends at the total when progress is reported before each unit', () => {
    const io = captureIo();
    const p = createProgress(io, { label: 'classify', total: 20, json: false });
    for (let i = 0; i < 20; i++) p.update(i);
    p.finish({ accuracy: 0.9 }, 20);
    const last = io.stderr().trim().split('\n').at(-1)!;
    expect(last).toMatch(/^classify 20\/20 {2}accuracy 0\.9000/);
  });

  it('after a resume (rebase) the first ETA counts only the steps done by this process', () => {
    vi.useFakeTimers();
    try {
      const io = captureIo();
      const p = createProgress(io, { label: 'train', total: 100, json: true });
      vi.advanceTimersByTime(30_000); // loading the model and the checkpoint
      p.rebase(90);
      vi.advanceTimersByTime(1_000);
      p.update(91);
      const line = JSON.parse(io.stdout().trim()) as { eta_s: number; elapsed_s: number };
      expect(line.elapsed_s).toBe(1);
      expect(line.eta_s).toBe(9); // 1 s per step, 9 steps left (not 31 s / 91 steps)
    } finally {
      vi.useRealTimers();
    }
  });

  it('a heartbeat prints while a long phase runs, and stops', () => {
    vi.useFakeTimers();
    try {
      const io = captureIo();
      const hb = heartbeat(io, 'writing a checkpoint', false);
      vi.advanceTimersByTime(45_000);
      hb.stop();
      vi.advanceTimersByTime(60_000);
      expect(io.stderr().trim().split('\n')).toEqual([
        '... still writing a checkpoint (00:20)',
        '... still writing a checkpoint (00:40)',
      ]);
    } finally {
      vi.useRealTimers();
    }
  });
});
