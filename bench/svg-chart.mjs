// A small SVG line chart with a log-scale x axis, for the --curves plots in docs/. No dependency.
//
//   lineChart({ title, xLabel, yLabel, series: [{ name, points: [[x, y], …] }] }) → SVG text

const W = 640;
const H = 360;
const M = { left: 70, right: 20, top: 40, bottom: 60 };
const COLOURS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df'];

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round tick values for a linear axis from 0 to max. */
function linearTicks(max) {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(v);
  if (ticks.at(-1) < max) ticks.push(ticks.at(-1) + step);
  return ticks;
}

const label = (v) =>
  v >= 1e6 ? `${+(v / 1e6).toPrecision(3)}M` : v >= 1e3 ? `${+(v / 1e3).toPrecision(3)}k` : `${+v.toPrecision(3)}`;

export function lineChart({ title, xLabel, yLabel, series }) {
  const points = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && Number.isFinite(y));
  const xs = points.map(([x]) => x);
  const lo = xs.length ? Math.floor(Math.log10(Math.min(...xs))) : 0;
  const hi = Math.max(lo + 1, xs.length ? Math.ceil(Math.log10(Math.max(...xs))) : 1);
  const yTicks = linearTicks(Math.max(...points.map(([, y]) => y), 0));
  const yMax = yTicks.at(-1);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x) => M.left + ((Math.log10(x) - lo) / (hi - lo)) * pw;
  const py = (y) => M.top + ph - (y / yMax) * ph;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let e = lo; e <= hi; e++) {
    const x = px(10 ** e).toFixed(1);
    out.push(`<line x1="${x}" y1="${M.top}" x2="${x}" y2="${M.top + ph}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${M.top + ph + 16}" text-anchor="middle">${label(10 ** e)}</text>`);
  }
  for (const v of yTicks) {
    const y = py(v).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${M.left - 6}" y="${(Number(y) + 4).toFixed(1)}" text-anchor="end">${label(v)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${M.left + pw / 2}" y="${H - 20}" text-anchor="middle">${esc(xLabel)} (log scale)</text>`);
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = s.points.filter(([x, y]) => x > 0 && Number.isFinite(y));
    if (pts.length > 1)
      out.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const [x, y] of pts)
      out.push(
        `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${colour}"><title>${esc(`${s.name}: ${label(x)} → ${+y.toPrecision(3)}`)}</title></circle>`,
      );
    out.push(`<rect x="${M.left + 10}" y="${M.top + 8 + i * 16}" width="10" height="10" fill="${colour}"/>`);
    out.push(`<text x="${M.left + 26}" y="${M.top + 17 + i * 16}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
