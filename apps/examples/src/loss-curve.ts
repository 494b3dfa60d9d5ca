// The loss curve as a self-contained HTML page (inline SVG, no scripts or network), so a
// finished run can be looked at in any browser.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const W = 760;
const H = 420;
const PAD = { left: 64, right: 24, top: 40, bottom: 48 };

export function lossCurveSvg(train: readonly number[], val: readonly (readonly [number, number])[], title: string): string {
  const steps = train.length;
  const all = [...train, ...val.map((v) => v[1])].filter(Number.isFinite);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const span = hi - lo || 1;
  const x = (step: number) => PAD.left + ((step - 1) / Math.max(1, steps - 1)) * (W - PAD.left - PAD.right);
  const y = (v: number) => PAD.top + (1 - (v - lo) / span) * (H - PAD.top - PAD.bottom);
  const line = train.map((v, i) => `${i ? 'L' : 'M'}${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const dots = val.map(([s, v]) => `<circle cx="${x(s).toFixed(1)}" cy="${y(v).toFixed(1)}" r="4" fill="#d62728"/>`).join('');
  const ticks: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = lo + (span * i) / 4;
    ticks.push(`<text x="${PAD.left - 8}" y="${y(v) + 4}" text-anchor="end" font-size="12">${v.toFixed(2)}</text>`);
    ticks.push(`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
  }
  for (let i = 0; i <= 4; i++) {
    const s = Math.max(1, Math.round(1 + ((steps - 1) * i) / 4));
    ticks.push(`<text x="${x(s)}" y="${H - PAD.bottom + 18}" text-anchor="middle" font-size="12">${s}</text>`);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escape(title)}</text>`,
    ...ticks,
    `<path d="${line}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`,
    dots,
    `<text x="${W / 2}" y="${H - 10}" text-anchor="middle" font-size="12">optimizer step</text>`,
    `<text x="${W - PAD.right}" y="${PAD.top - 8}" text-anchor="end" font-size="12"><tspan fill="#1f77b4">train loss</tspan>  <tspan fill="#d62728">● validation loss</tspan></text>`,
    '</svg>',
  ].join('\n');
}

export async function writeLossCurve(dir: string, train: readonly number[], val: readonly (readonly [number, number])[], title: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.resolve(dir, 'loss-curve.html');
  const rows = train.map((v, i) => `${i + 1},${v}`).join('\n');
  const html = `<!doctype html>\n<html><head><meta charset="utf-8"><title>${escape(title)}</title></head><body>\n${lossCurveSvg(train, val, title)}\n<details><summary>data (step,train loss)</summary><pre>${rows}</pre></details>\n</body></html>\n`;
  await writeFile(file, html);
  return file;
}

function escape(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
