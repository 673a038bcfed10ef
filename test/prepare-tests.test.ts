/**
 * `npm test`'s first step (scripts/prepare-tests.sh) builds the patched QEMU when it can and never
 * fails the run; a build that failed must not be silent: the Preventer's real-guest tests skip with
 * its reason.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preventerProblem } from '../src/pager/run.js';
import { PKG_ROOT } from '../src/real/paths.js';

function prepare(env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((res) =>
    execFile('bash', [join(PKG_ROOT, 'scripts', 'prepare-tests.sh')], { env }, (err, _out, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
}

test('prepare-tests.sh skips the build on request and exits 0, saying what will skip', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'vsw-prep-'));
  try {
    const r = await prepare({ ...process.env, VSWAPPER_CACHE: cache, VSWAPPER_SKIP_QEMU_BUILD: '1' });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /not building the patched QEMU; the Preventer's real-guest tests will skip/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test("the Preventer's problem names a failed build's reason, and the way to build when none was tried", async () => {
  const cache = mkdtempSync(join(tmpdir(), 'vsw-prep-'));
  const saved = process.env.VSWAPPER_CACHE;
  process.env.VSWAPPER_CACHE = cache;
  try {
    assert.match((await preventerProblem()) ?? '', /run scripts\/build-qemu-intercept\.sh as root/);
    const reason =
      'the patched QEMU did not build (exit 2: configure failed; log: /x/qemu-intercept-build.log)';
    writeFileSync(join(cache, 'qemu-intercept-build.failed'), `${reason}\n`);
    const p = (await preventerProblem()) ?? '';
    assert.ok(p.endsWith(`: ${reason}`), p);
  } finally {
    if (saved === undefined) delete process.env.VSWAPPER_CACHE;
    else process.env.VSWAPPER_CACHE = saved;
    rmSync(cache, { recursive: true, force: true });
  }
});
