/**
 * A measure's value in a cell of the report's measures table, as HTML: a number with its unit, a per-layer list as
 * a sparkline with its last value and range, a layer × position grid as a small heatmap, named values one a line
 * (a matrix's shape as "32000 × 2048", a list of [layer, value] pairs as the layers it names). The values are the
 * measure's own; nothing here knows which measure it draws.
 */
import type { Value } from "../probes/measures/measure.js";

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Three significant figures; whole numbers as they are; very large or small ones in exponent form. */
export function num(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return x === null || Number.isNaN(x) ? "—" : x > 0 ? "∞" : "−∞";
  if (Number.isInteger(x) && Math.abs(x) < 1e6) return String(x);
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(2) : x.toPrecision(3);
}

/** A unit after a number: a ratio as ×, a count of nothing as nothing. */
const unitAfter = (unit: string) =>
  !unit ? "" : unit === "ratio" ? `<span class="u">×</span>` : ` <span class="u">${escape(unit)}</span>`;

const isNumbers = (v: unknown): v is (number | null)[] =>
  Array.isArray(v) && v.every((x) => typeof x === "number" || x === null);
const isGrid = (v: unknown): v is number[][] => Array.isArray(v) && v.length > 0 && v.every(isNumbers);

const W = 120,
  H = 26;

/** One polyline over the values (a gap where one is not a number), the last point marked; every value in its title. */
function sparkline(xs: (number | null)[], label: string): string {
  const finite = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (!finite.length) return "";
  const lo = Math.min(...finite),
    hi = Math.max(...finite);
  const x = (i: number) => (xs.length === 1 ? W / 2 : 2 + (i * (W - 4)) / (xs.length - 1));
  const y = (v: number) => (hi === lo ? H / 2 : H - 3 - ((v - lo) * (H - 6)) / (hi - lo));
  const runs: string[] = [];
  let run: string[] = [];
  xs.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      if (run.length) runs.push(run.join(" "));
      run = [];
    } else run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  });
  if (run.length) runs.push(run.join(" "));
  const last = xs.length - 1;
  const end = xs[last];
  const title = xs.map((v, i) => `${label} ${i}: ${num(v)}`).join("\n");
  return (
    `<svg class="spark" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img"><title>${escape(title)}</title>` +
    runs.map((p) => `<polyline points="${p}"/>`).join("") +
    (end !== null && Number.isFinite(end)
      ? `<circle cx="${x(last).toFixed(1)}" cy="${y(end).toFixed(1)}" r="2"/>`
      : "") +
    `</svg>`
  );
}

/** Viridis at t in [0, 1], by its five stops. */
function viridis(t: number): string {
  const stops = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const at = Math.min(Math.max(t, 0), 1) * (stops.length - 1);
  const i = Math.min(Math.floor(at), stops.length - 2),
    f = at - i;
  const c = stops[i].map((s, k) => Math.round(s + f * (stops[i + 1][k] - s)));
  return `rgb(${c.join(",")})`;
}

/** Rows (layers) top to bottom, columns (positions) left to right; a log colour scale where the values span 20× or more. */
function heatmap(rows: number[][]): string {
  const finite = rows.flat().filter(Number.isFinite);
  if (!finite.length) return "";
  const lo = Math.min(...finite),
    hi = Math.max(...finite);
  const log = lo > 0 && hi / lo >= 20;
  const t = (v: number) => (hi === lo ? 0.5 : log ? Math.log(v / lo) / Math.log(hi / lo) : (v - lo) / (hi - lo));
  const cols = Math.max(...rows.map((r) => r.length));
  const cw = Math.max(2, Math.min(12, Math.floor(W / cols))),
    ch = Math.max(2, Math.min(6, Math.floor(60 / rows.length)));
  const rects = rows.flatMap((r, L) =>
    r.map((v, p) =>
      Number.isFinite(v)
        ? `<rect x="${p * cw}" y="${L * ch}" width="${cw}" height="${ch}" fill="${viridis(t(v))}"><title>layer ${L}, position ${p}: ${num(v)}</title></rect>`
        : "",
    ),
  );
  return `<svg class="heat" width="${cols * cw}" height="${rows.length * ch}" role="img">${rects.join("")}</svg>`;
}

/** Whole numbers as runs: 0–6, 8, 10–12. */
function runsOf(xs: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < xs.length;) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++;
    out.push(j > i ? `${xs[i]}–${xs[j]}` : String(xs[i]));
    i = j + 1;
  }
  return out.join(", ");
}

const label = (k: string) => escape(k.replace(/_pct$/, " %").replace(/_/g, " "));

/** A value in a cell; `unit` is said after a number or a list, not after named values (whose units differ). */
export function cell(v: Value | null, unit: string, key = ""): string {
  if (typeof v === "number" || v === null) return `<span class="v">${num(v)}</span>${unitAfter(unit)}`;
  if (isNumbers(v)) {
    if (!v.length) return `<span class="detail">none</span>`;
    if (key === "shape" && v.every((x) => x !== null && Number.isInteger(x))) return v.join(" × ");
    const finite = v.filter((x): x is number => x !== null && Number.isFinite(x));
    const range = finite.length ? `${num(Math.min(...finite))} to ${num(Math.max(...finite))}` : "no numbers";
    return (
      `${sparkline(v, "layer")}<div class="detail">last <span class="v">${num(v[v.length - 1])}</span>${unitAfter(unit)}` +
      ` · ${v.length} layers, ${range}</div>`
    );
  }
  if (isGrid(v)) {
    // [index, value] pairs: the indices they name (the layers where something holds), with how many.
    if (v.every((p) => p.length === 2 && Number.isInteger(p[0])))
      return `${runsOf(v.map((p) => p[0]))} <span class="detail">(${v.length})</span>`;
    const finite = v.flat().filter(Number.isFinite);
    const range = finite.length ? `${num(Math.min(...finite))} to ${num(Math.max(...finite))}` : "no numbers";
    return `${heatmap(v)}<div class="detail">${v.length} layers × ${v[0].length} positions, ${range}${unitAfter(unit)}</div>`;
  }
  return (
    `<div class="kv">` +
    Object.entries(v)
      .map(([k, x]) => `<div><span class="k">${label(k)}</span> ${cell(x, "", k)}</div>`)
      .join("") +
    `</div>`
  );
}
