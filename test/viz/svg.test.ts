import { describe, expect, it } from 'vitest';
import { escapeXml, heatmapSvg, lineChartSvg, niceTicks } from '../../src/viz/svg.js';

/** A minimal XML well-formedness check: balanced tags, quoted attributes, no stray '<' or '&'. */
function checkWellFormed(svg: string): void {
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  const stack: string[] = [];
  const tagRe = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = tagRe.exec(svg)) !== null) {
    const between = svg.slice(last, m.index);
    expect(between.includes('<'), `stray '<' before ${m[0]}`).toBe(false);
    expect(/&(?!(amp|lt|gt|quot|apos);)/.test(between), `bare & in ${between}`).toBe(false);
    last = tagRe.lastIndex;
    const [, close, name, , self] = m;
    if (close) expect(stack.pop()).toBe(name);
    else if (!self) stack.push(name as string);
  }
  expect(svg.slice(last).trim()).toBe('');
  expect(stack).toEqual([]);
}

describe('lineChartSvg', () => {
  it('draws axes, ticks, legend, one path per series and error bars', () => {
    const svg = lineChartSvg({
      title: 'Validation E & IoU <per epoch>',
      xLabel: 'epoch',
      yLabel: 'E',
      series: [
        { name: 'n = 1', x: [0, 1, 2, 3], y: [10, 8, 7.5, 7], yErr: [1, 0.5, 0.5, 0.2] },
        { name: 'n = 2', x: [0, 1, 2, 3], y: [10, 9, Number.NaN, 6], dashed: true },
        { name: 'empty', x: [], y: [] },
      ],
    });
    checkWellFormed(svg);
    expect(svg).toContain('Validation E &amp; IoU &lt;per epoch&gt;');
    expect((svg.match(/<g class="series"/g) ?? []).length).toBe(3);
    const paths = svg.match(/<path d="[^"]+"/g) ?? [];
    expect(paths.length).toBe(2);
    expect(paths[0]).toMatch(/^<path d="M[\d.]+,[\d.]+(L[\d.]+,[\d.]+){3}"/);
    // NaN breaks the second line into two pieces
    expect((paths[1]?.match(/M/g) ?? []).length).toBe(2);
    expect(svg).toContain('class="error-bars"');
    expect((svg.match(/<g class="error-bars"[^>]*>((?:\n<line[^>]*\/>)+)/)?.[1]?.match(/<line/g) ?? []).length).toBe(
      12,
    );
    expect(svg).toContain('>n = 1</text>');
    expect(svg).toContain('stroke-dasharray');
    // y ticks cover the data including error bars (6..11)
    expect(svg).toMatch(/>6<\/text>/);
    expect(svg).toMatch(/>11<\/text>/);
  });

  it('log axes, fixed ranges, and no data still produce valid SVG', () => {
    checkWellFormed(
      lineChartSvg({
        title: 't',
        xLabel: 'n',
        yLabel: 'time',
        logY: true,
        series: [{ name: 'a', x: [1, 2, 4, 8], y: [0.1, 1, 10, 100] }],
      }),
    );
    const fixed = lineChartSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      yRange: [0, 1],
      series: [{ name: 'a', x: [0, 1], y: [0.2, 0.9] }],
    });
    checkWellFormed(fixed);
    expect(fixed).toMatch(/>1\.0<\/text>|>1<\/text>/);
    checkWellFormed(lineChartSvg({ title: 'none', xLabel: 'x', yLabel: 'y', series: [] }));
  });

  it('keeps a long title inside the figure: centred over the plot when it fits, from the left edge when not', () => {
    const chart = (title: string) =>
      lineChartSvg({
        title,
        width: 820,
        height: 460,
        xLabel: 'x',
        yLabel: 'y',
        series: [{ name: 'a legend entry', x: [0, 1], y: [0, 1] }],
      });
    const titleTag = (svg: string) => /<text [^>]*font-size="15"[^>]*>/.exec(svg)?.[0] ?? '';
    expect(titleTag(chart('Short title'))).toContain('text-anchor="middle"');
    const long = `Which true pixels survive, by distance to the inscribed square (${'m = 200 s0, '.repeat(6)})`;
    const tag = titleTag(chart(long));
    expect(tag).toContain('text-anchor="start"');
    expect(tag).toContain('x="8"');
  });

  it('niceTicks uses 1-2-5 steps covering the range', () => {
    const t = niceTicks(0.13, 0.87, 6);
    expect(t.step).toBeCloseTo(0.2);
    expect(t.lo).toBeLessThanOrEqual(0.13);
    expect(t.hi).toBeGreaterThanOrEqual(0.87);
    expect(niceTicks(5, 5).ticks.length).toBeGreaterThan(1);
    expect(escapeXml(`a<b & "c"`)).toBe('a&lt;b &amp; &quot;c&quot;');
  });
});

describe('heatmapSvg', () => {
  it('draws one cell per value with labels and a colour bar', () => {
    const svg = heatmapSvg({
      title: 'dL/dp',
      values: [
        [1, -2, 3],
        [0, Number.NaN, -1],
      ],
      rowLabels: ['r0', 'r1'],
      colLabels: ['a', 'b', 'c'],
      diverging: true,
      xLabel: 'col',
      yLabel: 'row',
    });
    checkWellFormed(svg);
    expect((svg.match(/<rect x="\d+" y="\d+" width="28" height="28"/g) ?? []).length).toBe(6);
    expect(svg).toContain('fill="#bbbbbb"'); // NaN cell
    expect(svg).toContain('class="colorbar"');
    expect(svg).toContain('>r1</text>');
  });
});

describe('tick labels', () => {
  it('write a step of 2.5 with one decimal (2.5, not 3)', () => {
    const svg = lineChartSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 's', x: [0, 1], y: [0, 12.5] }],
    });
    expect(svg).toContain('>2.5<');
    expect(svg).not.toMatch(/>3<\/text>/);
  });
});
