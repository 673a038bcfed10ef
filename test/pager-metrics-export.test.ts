import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetricsServer, PROMETHEUS_CONTENT_TYPE } from '../src/pager/control/metrics-server.js';
import { formatPrometheus, metricOf } from '../src/pager/control/prometheus.js';

const STATS = {
  uptimeS: 12.5,
  residentPages: 100,
  residentLimitPages: 256,
  memfdBytes: 409600,
  swapReadOps: 7,
  diskSwapReadSectors: 16,
  staleSwapReads: 3,
  swapUsedSlots: 2,
};

/** Every line of a text exposition, checked against the format's grammar (no client library here). */
function checkExposition(text: string): Map<string, { type: string; value: number }> {
  assert.ok(text.endsWith('\n'));
  const seen = new Map<string, { type: string; value: number }>();
  const lines = text.trimEnd().split('\n');
  for (let i = 0; i < lines.length; i += 3) {
    const [h, t, s] = [lines[i]!, lines[i + 1]!, lines[i + 2]!];
    const name = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(h)?.[1];
    assert.ok(name, `HELP line: ${h}`);
    const type = new RegExp(`^# TYPE ${name} (counter|gauge)$`).exec(t)?.[1];
    assert.ok(type, `TYPE line: ${t}`);
    const m = new RegExp(
      `^${name}(\\{[a-z_]+="(?:[^"\\\\\\n]|\\\\.)*"(?:,[a-z_]+="(?:[^"\\\\\\n]|\\\\.)*")*\\})? (\\S+)$`,
    ).exec(s);
    assert.ok(m, `sample line: ${s}`);
    if (type === 'counter') assert.ok(name.endsWith('_total'), `${name}: a counter ends in _total`);
    else assert.ok(!name.endsWith('_total'), `${name}: a gauge does not end in _total`);
    assert.ok(!seen.has(name), `${name} once`);
    seen.set(name, { type, value: Number(m[2]) });
  }
  return seen;
}

test('prometheus: names with units, counters and gauges, pages and sectors in bytes', () => {
  const m = checkExposition(formatPrometheus(STATS));
  assert.deepEqual(m.get('vswapper_resident_bytes'), { type: 'gauge', value: 409600 });
  assert.deepEqual(m.get('vswapper_resident_limit_bytes'), { type: 'gauge', value: 1048576 });
  assert.deepEqual(m.get('vswapper_memfd_bytes'), { type: 'gauge', value: 409600 });
  assert.deepEqual(m.get('vswapper_uptime_seconds'), { type: 'gauge', value: 12.5 });
  assert.deepEqual(m.get('vswapper_swap_used_bytes'), { type: 'gauge', value: 8192 });
  assert.deepEqual(m.get('vswapper_swap_read_ops_total'), { type: 'counter', value: 7 });
  assert.deepEqual(m.get('vswapper_disk_swap_read_bytes_total'), { type: 'counter', value: 8192 });
  assert.deepEqual(m.get('vswapper_stale_swap_reads_total'), { type: 'counter', value: 3 });
  assert.equal(m.size, Object.keys(STATS).length);
  assert.equal(metricOf('interceptBufferedPages', 1).type, 'gauge');
});

test('prometheus: labels escaped', () => {
  const text = formatPrometheus({ swapReadOps: 1 }, { vm: 'a "b"\\c\nd' });
  assert.match(text, /^vswapper_swap_read_ops_total\{vm="a \\"b\\"\\\\c\\nd"\} 1$/m);
  checkExposition(text);
});

test('metrics server: GET /metrics on 127.0.0.1, 404 elsewhere, 503 when stats fail', async () => {
  let fail = false;
  const s = await MetricsServer.listen(
    0,
    () => (fail ? Promise.reject(new Error('daemon gone')) : Promise.resolve(STATS)),
    { vm: 'test' },
  );
  try {
    assert.ok(s.port > 0);
    const r = await fetch(`http://127.0.0.1:${s.port}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), PROMETHEUS_CONTENT_TYPE);
    const m = checkExposition(await r.text());
    assert.equal(m.get('vswapper_resident_bytes')?.value, 409600);
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/`)).status, 404);
    fail = true;
    const bad = await fetch(`http://127.0.0.1:${s.port}/metrics`);
    assert.equal(bad.status, 503);
    assert.match(await bad.text(), /daemon gone/);
  } finally {
    await s.close();
  }
});
