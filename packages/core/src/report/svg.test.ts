import { describe, expect, it } from 'vitest';
import { barChart, escapeXml, groupedBarChart, linePlot } from './svg.js';

describe('svg charts', () => {
  it('linePlot draws one polyline per series with a legend, deterministically', () => {
    const series = [
      {
        name: 'soo <lr 1e-3>',
        points: [
          [1, 0.5],
          [2, 0.25],
          [3, 0.125],
        ] as Array<[number, number]>,
      },
      {
        name: 'exposure',
        points: [
          [1, 0.6],
          [2, 0.55],
          [3, Number.NaN],
        ] as Array<[number, number]>,
      },
    ];
    const a = linePlot(series, { title: 'loss', xLabel: 'step', yLabel: 'MSE' });
    expect(a).toBe(linePlot(series, { title: 'loss', xLabel: 'step', yLabel: 'MSE' }));
    expect(a.startsWith('<svg')).toBe(true);
    expect(a.match(/<polyline/g)).toHaveLength(2);
    expect(a).toContain('soo &lt;lr 1e-3&gt;');
    expect(a).not.toContain('NaN');
  });

  it('log scale skips non-positive values', () => {
    const s = linePlot(
      [
        {
          name: 'l',
          points: [
            [0, 0],
            [1, 1e-3],
            [2, 1e-5],
          ],
        },
      ],
      { title: 't', xLabel: 'x', yLabel: 'y', logY: true },
    );
    expect(s).not.toContain('NaN');
    expect(s).not.toContain('Infinity');
    expect(s).toContain('(log)');
  });

  it('barChart has one bar per entry plus error bars', () => {
    const s = barChart(
      [
        { label: 'base', value: 0.9 },
        { label: 'soo', value: 0.2, error: 0.05 },
      ],
      { title: 'deceptive', yLabel: 'rate', max: 1 },
    );
    expect(s.match(/<rect x=/g)).toHaveLength(2);
    expect(s).toContain('soo');
    expect(escapeXml('a&b"')).toBe('a&amp;b&quot;');
  });

  it('groupedBarChart draws one bar per present value, error bars with caps, legend and both axis labels', () => {
    const svg = groupedBarChart(
      ['baseline', 'soo <x>'],
      [
        { label: 'main', values: [{ value: 90 }, { value: 40, error: 10 }] },
        { label: 'Perspectives', values: [{ value: 95 }, null] },
      ],
      { title: 'rates', xLabel: 'scenario', yLabel: '%', max: 100 },
    );
    expect(svg).toBe(
      groupedBarChart(
        ['baseline', 'soo <x>'],
        [
          { label: 'main', values: [{ value: 90 }, { value: 40, error: 10 }] },
          { label: 'Perspectives', values: [{ value: 95 }, null] },
        ],
        { title: 'rates', xLabel: 'scenario', yLabel: '%', max: 100 },
      ),
    );
    // 1 background + 2 legend swatches + 3 bars.
    expect(svg.match(/<rect /g)).toHaveLength(6);
    // One error bar: a vertical line and two caps, from 50 to 30 on a 0-100 axis.
    const bars = [
      ...svg.matchAll(/<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)" stroke="black"\/>/g),
    ];
    expect(bars).toHaveLength(3 + 1); // error bar, two caps, x axis
    expect(svg).toContain('soo &lt;x&gt;');
    expect(svg).toContain('>scenario</text>');
    expect(svg).toContain('>%</text>');
  });
});
