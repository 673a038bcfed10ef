/**
 * The balloon configurations of the qemu-pager engine, without running a guest: which it declares,
 * what its availability says of them (the patched QEMU for balloon+vswapper, as for vswapper), and
 * bad options refused before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pagerEngine, runPagerConfig } from '../src/pager/index.js';

test('the pager engine runs balloon and balloon+vswapper, and says nothing cannot run', () => {
  assert.ok(pagerEngine.configs.includes('balloon'));
  assert.ok(pagerEngine.configs.includes('balloon+vswapper'));
  assert.deepEqual(pagerEngine.cannot, {});
});

test('availability: balloon runs where the engine does; balloon+vswapper where vswapper does', async () => {
  const a = await pagerEngine.availability();
  if (!a.engine.ok) {
    // Without root/userfaultfd nothing runs, and every configuration says why.
    assert.equal(a.configs.balloon.ok, false);
    assert.ok(!a.configs.balloon.ok && a.configs.balloon.reason.length > 0);
    return;
  }
  assert.equal(a.configs.balloon.ok, true);
  assert.equal(a.configs['balloon+vswapper'].ok, a.configs.vswapper.ok);
  const bv = a.configs['balloon+vswapper'];
  if (!bv.ok) assert.match(bv.reason, /patched QEMU is not built/);
});

test('free page reporting without a balloon is refused before any work', async () => {
  await assert.rejects(
    runPagerConfig({
      config: 'mapper',
      freePageReporting: true,
      believedMiB: 128,
      actualMiB: 64,
      fileMiB: 50,
      iterations: 1,
      allocMiB: 0,
      hddLike: false,
    }),
    /free page reporting needs a balloon configuration, not mapper/,
  );
});

test('inflating after the warm-up without a balloon is refused before any work', async () => {
  await assert.rejects(
    runPagerConfig({
      config: 'baseline',
      inflateAfterWarmup: true,
      believedMiB: 128,
      actualMiB: 64,
      fileMiB: 50,
      iterations: 1,
      allocMiB: 0,
      hddLike: false,
    }),
    /inflateAfterWarmup needs a balloon configuration, not baseline/,
  );
});
