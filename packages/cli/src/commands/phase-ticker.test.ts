import { describe, expect, it } from 'vitest';
import { captureIo } from '../testing.js';
import { phaseTicker } from './demo.js';

describe('demo phase ticker', () => {
  it('a terminal gets a redrawn "phase... n s" line, ended on stop (nothing left half-drawn)', () => {
    const cap = captureIo();
    const t = phaseTicker({ out: cap.out, err: cap.err, isTTY: true });
    t.start('eval');
    t.stop();
    t.stop();
    const CLEAR = '\x1b[K';
    expect(cap.stderr()).toBe(`\reval... 0 s${CLEAR}\reval: 0 s${CLEAR}\n`);
  });

  it('a pipe gets one plain line per phase', () => {
    const io = captureIo();
    const t = phaseTicker(io);
    t.start('eval');
    t.start('latent');
    t.stop();
    expect(io.stderr()).toBe('eval...\nlatent...\n');
  });
});
