import type { MultiTimeline } from '../experiments/multi-runner.js';

const W = 900;
const PANEL_H = 200;
const M = { left: 70, right: 20, top: 30, bottom: 30 };
const PAGES_PER_MIB = 256;
/** Distinct hues for up to ten guests (then they repeat). */
const GUEST_COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

interface Line {
  ys: number[];
  color: string;
  dash?: string;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panel(y0: number, title: string, yLabel: string, ts: number[], lines: Line[]): string {
  const top = y0 + M.top;
  const bottom = y0 + PANEL_H - M.bottom;
  const left = M.left;
  const right = W - M.right;
  const tMax = Math.max(1e-9, ...ts);
  const vMax = Math.max(1e-9, ...lines.flatMap((l) => l.ys));
  const px = (t: number): number => left + (t / tMax) * (right - left);
  const py = (v: number): number => bottom - (v / vMax) * (bottom - top);
  let s = `<text x="${left}" y="${y0 + 18}" font-size="13" font-weight="bold">${esc(title)}</text>`;
  s += `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#888"/>`;
  for (let k = 0; k <= 4; k++) {
    const v = (vMax * k) / 4;
    s += `<text x="${left - 6}" y="${py(v) + 4}" font-size="10" text-anchor="end">${v >= 100 ? v.toFixed(0) : v.toFixed(1)}</text>`;
    const t = (tMax * k) / 4;
    s += `<text x="${px(t)}" y="${bottom + 14}" font-size="10" text-anchor="middle">${t.toFixed(1)}</text>`;
  }
  s += `<text x="14" y="${(top + bottom) / 2}" font-size="11" transform="rotate(-90 14 ${(top + bottom) / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  for (const l of lines) {
    const pts = l.ys.map((v, i) => `${px(ts[i]!).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    s += `<polyline fill="none" stroke="${l.color}" stroke-width="1.2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''} points="${pts}"/>`;
  }
  return s;
}

/**
 * Per-guest timelines of a multi-guest run: balloon target (dashed) and size, the guest's free
 * memory, and the host's swap traffic for each guest (pages written + read per sample), with the
 * host's free memory, what the host holds for each guest, and how busy the shared drive is; when
 * the guests have swap partitions of their own and used them, each guest's swap traffic inside it
 * too (that is I/O on the shared drive the host's swap counters do not show); when balloons took
 * pages, what those pages freed at the host (a frame, or no memory: the page was already swapped
 * out or never touched), cumulative. Time in seconds of the (possibly scaled) run.
 */
export function renderTimelineSvg(title: string, tl: MultiTimeline): string {
  const ts = tl.tS;
  const n = tl.balloonPages.length;
  const color = (i: number): string => GUEST_COLORS[i % GUEST_COLORS.length]!;
  const mib = (a: number[]): number[] => a.map((p) => p / PAGES_PER_MIB);
  const balloon: Line[] = [];
  const free: Line[] = [];
  const swap: Line[] = [];
  const held: Line[] = [];
  const guestSwap: Line[] = [];
  const gave: Line[] = [];
  const cumulativeMib = (a: number[]): number[] => {
    let sum = 0;
    return a.map((p) => (sum += p) / PAGES_PER_MIB);
  };
  for (let i = 0; i < n; i++) {
    held.push({ ys: mib(tl.residentPages[i]!), color: color(i) });
    balloon.push({ ys: mib(tl.balloonTargetPages[i]!), color: color(i), dash: '4 3' });
    balloon.push({ ys: mib(tl.balloonPages[i]!), color: color(i) });
    free.push({ ys: mib(tl.guestFreePages[i]!), color: color(i) });
    swap.push({
      ys: tl.swapOutPages[i]!.map((o, k) => (o + tl.swapInPages[i]![k]!) / PAGES_PER_MIB),
      color: color(i),
    });
    guestSwap.push({
      ys: tl.guestSwapOutPages[i]!.map((o, k) => (o + tl.guestSwapInPages[i]![k]!) / PAGES_PER_MIB),
      color: color(i),
    });
    gave.push({ ys: cumulativeMib(tl.balloonFramesFreed[i]!), color: color(i) });
    gave.push({
      ys: cumulativeMib(tl.balloonSlotsFreed[i]!.map((x, k) => x + tl.balloonNothingFreed[i]![k]!)),
      color: color(i),
      dash: '1 2',
    });
  }
  // Only runs whose balloons took pages get the panel of what those pages freed.
  const anyBallooned = gave.some((l) => l.ys.some((v) => v > 0));
  // Only runs whose guests swapped inside (a swap partition in each guest) get the panel.
  const anyGuestSwap = guestSwap.some((l) => l.ys.some((v) => v > 0));
  const host: Line[] = [{ ys: mib(tl.hostFreePages.map((p) => Math.max(0, p))), color: '#000' }];
  const panels = [
    panel(0, 'balloon target (dashed) and balloon size, per guest', 'MB', ts, balloon),
    panel(PANEL_H, "guest free memory (virtio-balloon's mem_unused), per guest", 'MB', ts, free),
    panel(
      2 * PANEL_H,
      'host swap traffic for each guest (written + read per sample)',
      'MB / sample',
      ts,
      swap,
    ),
    panel(3 * PANEL_H, 'host free memory', 'MB', ts, host),
    panel(4 * PANEL_H, 'host memory each guest holds (resident in its QEMU)', 'MB', ts, held),
    panel(5 * PANEL_H, 'shared drive: busy % (black) and queue depth (grey)', '% / requests', ts, [
      { ys: tl.diskBusyFraction.map((b) => Math.min(100, 100 * b)), color: '#000' },
      { ys: tl.diskQueueDepth, color: '#999' },
    ]),
  ];
  if (anyBallooned)
    panels.push(
      panel(
        panels.length * PANEL_H,
        'ballooned pages so far, per guest: frames freed at the host (solid), no memory freed (dotted)',
        'MB',
        ts,
        gave,
      ),
    );
  if (anyGuestSwap)
    panels.push(
      panel(
        panels.length * PANEL_H,
        "guest swap traffic: each guest's own swap partition, on its image (written + read per sample)",
        'MB / sample',
        ts,
        guestSwap,
      ),
    );
  const legendY = panels.length * PANEL_H;
  const legend = Array.from(
    { length: n },
    (_, i) =>
      `<rect x="${M.left + i * 80}" y="${legendY + 8}" width="12" height="8" fill="${color(i)}"/><text x="${M.left + i * 80 + 16}" y="${legendY + 16}" font-size="11">guest ${i + 1}</text>`,
  ).join('');
  const h = legendY + 50;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/><text x="${M.left}" y="${h - 8}" font-size="12">${esc(title)} (time axis: seconds since the first guest started)</text>${panels.join('')}${legend}</svg>\n`;
}
