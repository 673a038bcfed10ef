/**
 * The daemon's flat stats (flat-stats.ts) in Prometheus' text exposition format 0.0.4
 * (prometheus.io/docs/instrumenting/exposition_formats): `# HELP` and `# TYPE` per family; counters
 * end in `_total`; units in the names, base units (Prometheus' naming guide): pages and sectors
 * become bytes (4096 and 512 each), seconds stay seconds.
 */

const PAGE_BYTES = 4096;
const SECTOR_BYTES = 512;

/** Values that go up and down (the rest only grow: counters). */
const GAUGES = new Set([
  'uptimeS',
  'residentPages',
  'residentLimitPages',
  'namedResidentPages',
  'anonResidentPages',
  'mapperTrackedPages',
  'swapUsedSlots',
  'waitingFaults',
  'memfdBytes',
  'armedBytes',
  'armedNow',
  'interceptBufferedPages',
]);

export interface MetricFamily {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  value: number;
}

const snake = (k: string): string =>
  k
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .toLowerCase();

/** One stat as a metric family: its name with its unit, its type, its value in base units. */
export function metricOf(key: string, value: number): MetricFamily {
  const gauge = GAUGES.has(key);
  let base = key;
  let v = value;
  let unit = '';
  if (key === 'uptimeS') [base, unit] = ['uptime', '_seconds'];
  else if (key === 'swapUsedSlots') [base, v, unit] = ['swapUsed', value * PAGE_BYTES, '_bytes'];
  else if (key === 'armedNow') [base, v, unit] = ['sampledArmed', value * PAGE_BYTES, '_bytes'];
  else if (/Bytes$/.test(key)) [base, unit] = [key.slice(0, -5), '_bytes'];
  else if (/Pages$/.test(key)) [base, v, unit] = [key.slice(0, -5), value * PAGE_BYTES, '_bytes'];
  else if (/Sectors$/.test(key)) [base, v, unit] = [key.slice(0, -7), value * SECTOR_BYTES, '_bytes'];
  const name = `vswapper_${snake(base)}${unit}${gauge ? '' : '_total'}`;
  const was =
    unit === '_bytes' && !/Bytes$/.test(key) ? ` (the pager's ${key}, in bytes)` : ` (the pager's ${key})`;
  return {
    name,
    type: gauge ? 'gauge' : 'counter',
    help: `${gauge ? 'Now' : 'Since start'}${was}`,
    value: v,
  };
}

/** A label value escaped as the format says (backslash, double quote, newline). */
const escapeLabel = (s: string): string =>
  s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The exposition: one family per stat, sorted by name, with the labels given (e.g. `vm`). */
export function formatPrometheus(stats: Record<string, number>, labels: Record<string, string> = {}): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
  const families = Object.entries(stats)
    .filter(([, v]) => Number.isFinite(v))
    .map(([k, v]) => metricOf(k, v))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  let last = '';
  for (const f of families) {
    // Two stats mapping to one name would be an invalid exposition: the first wins.
    if (f.name === last) continue;
    last = f.name;
    out.push(
      `# HELP ${f.name} ${f.help}`,
      `# TYPE ${f.name} ${f.type}`,
      `${f.name}${l ? `{${l}}` : ''} ${f.value}`,
    );
  }
  return out.join('\n') + '\n';
}
