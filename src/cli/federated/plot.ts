/**
 * The picture `localrec fedsim` writes: test NDCG@10 (full ranking) against federated rounds,
 * one line per run, with the starting and the central model as dashed references. Plain SVG,
 * no dependencies.
 */

/** One line of the plot. */
export interface PlotSeries {
  label: string;
  points: { x: number; y: number }[];
}

/** A horizontal reference line. */
export interface PlotReference {
  label: string;
  y: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** One panel of the chart. */
export interface PlotPanel {
  title: string;
  series: PlotSeries[];
  references: PlotReference[];
  /** The y axis's label (default test NDCG@10, full ranking). */
  yLabel?: string;
}

/** An SVG line chart of `series` (and dashed `references`) in panels side by side. */
export function lineChartSvg(panels: PlotPanel[]): string {
  const W = 460;
  const H = 320;
  const m = { l: 58, r: 16, t: 34, b: 96 };
  const parts: string[] = [];
  panels.forEach((p, k) => {
    const ox = k * W;
    const xs = p.series.flatMap((s) => s.points.map((q) => q.x));
    const ys = [
      ...p.series.flatMap((s) => s.points.map((q) => q.y)),
      ...p.references.map((r) => r.y),
    ];
    const xMax = Math.max(1, ...xs);
    let yMin = Math.min(...ys);
    let yMax = Math.max(...ys);
    const pad = (yMax - yMin) * 0.08 || 0.01;
    // Padding never takes the axis below zero for values that cannot be negative (shares).
    yMin = Math.min(...ys) >= 0 ? Math.max(0, yMin - pad) : yMin - pad;
    yMax += pad;
    const X = (x: number) => ox + m.l + (x / xMax) * (W - m.l - m.r);
    const Y = (y: number) => m.t + (1 - (y - yMin) / (yMax - yMin)) * (H - m.t - m.b);
    parts.push(
      `<text x="${ox + W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`,
      `<line x1="${X(0)}" y1="${Y(yMin)}" x2="${X(xMax)}" y2="${Y(yMin)}" stroke="#333"/>`,
      `<line x1="${X(0)}" y1="${Y(yMin)}" x2="${X(0)}" y2="${Y(yMax)}" stroke="#333"/>`,
      `<text x="${ox + W / 2}" y="${H - m.b + 32}" text-anchor="middle" font-size="12">federated rounds</text>`,
      `<text x="${ox + 14}" y="${(m.t + H - m.b) / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${ox + 14} ${(m.t + H - m.b) / 2})">${esc(p.yLabel ?? 'test NDCG@10 (full)')}</text>`,
    );
    for (let i = 0; i <= 4; i++) {
      const y = yMin + ((yMax - yMin) * i) / 4;
      parts.push(
        `<text x="${X(0) - 6}" y="${Y(y) + 4}" text-anchor="end" font-size="10">${y.toFixed(3)}</text>`,
        `<line x1="${X(0)}" y1="${Y(y)}" x2="${X(xMax)}" y2="${Y(y)}" stroke="#ddd"/>`,
      );
      // Whole rounds, placed where they are (not a rounded label at a fractional place).
      const x = Math.round((xMax * i) / 4);
      parts.push(
        `<text x="${X(x)}" y="${H - m.b + 16}" text-anchor="middle" font-size="10">${Math.round(x)}</text>`,
      );
    }
    let legend = 0;
    const legendAt = (label: string, color: string, dash: boolean) => {
      const ly = H - m.b + 50 + 14 * legend++;
      parts.push(
        `<line x1="${ox + m.l}" y1="${ly - 4}" x2="${ox + m.l + 22}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash ? ' stroke-dasharray="5 4"' : ''}/>`,
        `<text x="${ox + m.l + 28}" y="${ly}" font-size="11">${esc(label)}</text>`,
      );
    };
    p.references.forEach((r, i) => {
      const color = i === 0 ? '#777' : '#000';
      parts.push(
        `<line x1="${X(0)}" y1="${Y(r.y)}" x2="${X(xMax)}" y2="${Y(r.y)}" stroke="${color}" stroke-dasharray="5 4"/>`,
      );
      legendAt(`${r.label} (${r.y.toFixed(4)})`, color, true);
    });
    p.series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length]!;
      const d = s.points
        .map((q, j) => `${j === 0 ? 'M' : 'L'}${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`)
        .join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
      for (const q of s.points)
        parts.push(
          `<circle cx="${X(q.x).toFixed(1)}" cy="${Y(q.y).toFixed(1)}" r="2.5" fill="${color}"/>`,
        );
      legendAt(s.label, color, false);
    });
  });
  const width = W * panels.length;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`;
}
