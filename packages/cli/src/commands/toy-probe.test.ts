import { describe, expect, it } from 'vitest';
import { earlierStagesCurve, probeCurveSvg } from './toy-probe.js';

describe('the learning curve across training stages', () => {
  it('puts every earlier stage on one token axis, oldest first, each ending at its final probe', () => {
    const record = {
      tokensSeen: 500,
      probes: {
        curve: [{ tokens: 100, accuracy: { main: 0.7 } }],
        final: [{ kind: 'main', accuracy: 0.9 }],
      },
      continuedFrom: {
        // recorded before tokensSeen existed: its corpus tokens x epochs
        corpus: { tokens: 300 },
        epochs: 2,
        probes: {
          curve: [{ tokens: 200, accuracy: { main: 0.5, self: 0.4 } }],
          final: [
            { kind: 'main', accuracy: 0.6 },
            { kind: 'self', accuracy: 0.45 },
          ],
        },
        // a stage from before probes: its tokens only
        continuedFrom: { tokensSeen: 1000 },
      },
    };
    const { points, tokens } = earlierStagesCurve(record);
    expect(tokens).toBe(1000 + 600 + 500);
    expect(points).toEqual([
      { tokens: 1200, accuracy: { main: 0.5, self: 0.4 } },
      { tokens: 1600, accuracy: { main: 0.6, self: 0.45 } },
      { tokens: 1700, accuracy: { main: 0.7 } },
      { tokens: 2100, accuracy: { main: 0.9 } },
    ]);
    expect(earlierStagesCurve(null)).toEqual({ points: [], tokens: 0 });
    const svg = probeCurveSvg(points, 't');
    // one line per kind present: main (4 points) and self (2 points)
    expect(svg.match(/<polyline/g)).toHaveLength(2);
  });
});
