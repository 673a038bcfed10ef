import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runMulti } from '../src/experiments/multi-runner.js';
import { GuestOs, type Program } from '../src/sim/guest/guest-os.js';
import type { Machine } from '../src/sim/machine.js';
import { buildWorkload } from '../src/workloads/index.js';
import { smallMachine } from './support/small-machine.js';

/** A guest that believes 32 MiB with a 4 MiB kernel (1,024 pages), all of it given by the host. */
const machine = (): Machine =>
  smallMachine({ config: 'baseline', files: [{ name: 'data', sizePages: 256 }] });

/** Every kernel page the guest touches, with the simulated second it touched it in. */
function recordKernelTouches(m: Machine): { second: number; page: number }[] {
  const os = m.guest;
  const kernelPages = os.params.kernelPages;
  const seen: { second: number; page: number }[] = [];
  const note = (g: number): void => {
    if (g < kernelPages) seen.push({ second: Math.floor(m.events.nowNs / 1e9), page: g });
  };
  const start = os.startAccess.bind(os);
  os.startAccess = (g: number, write: boolean): boolean => {
    note(g);
    return start(g, write);
  };
  const chunk = os.writeChunk.bind(os);
  os.writeChunk = (g: number, c: number): Program => {
    note(g);
    return chunk(g, c);
  };
  return seen;
}

test('an idle guest touches only its hot kernel pages: half of them every second, all of them once a minute', () => {
  const m = machine();
  const os = m.guest;
  const hot = os.params.kernelHotPages;
  assert.ok(hot < os.params.kernelPages / 2, 'the hot set is a small part of the kernel');
  let busy = false;
  const background = os.background.bind(os);
  os.background = (stop: () => boolean): Program => background(stop, () => busy);
  const seen = recordKernelTouches(m);
  m.run(
    (function* (): Program {
      yield* os.sleep(120e9);
      busy = true;
      yield* os.sleep(10e9);
      busy = false;
      yield* os.sleep(61e9);
    })(),
  );
  const idle = seen.filter((t) => t.second < 120);
  const work = seen.filter((t) => t.second >= 121 && t.second < 130);
  const idleAgain = seen.filter((t) => t.second >= 131);
  // Idle: nothing outside the hot set; all of it within the first minute, half of it each second.
  assert.ok(
    idle.every((t) => t.page < hot),
    'an idle kernel touched a page outside its hot set',
  );
  assert.equal(new Set(idle.filter((t) => t.second < 60).map((t) => t.page)).size, hot);
  for (const second of [1, 30, 59, 61, 119])
    assert.equal(
      new Set(idle.filter((t) => t.second === second).map((t) => t.page)).size,
      hot / 2,
      `second ${second}`,
    );
  // Busy: a thousand touches a second spread over the whole kernel.
  assert.ok(work.length > 8_000, `busy touches: ${work.length}`);
  assert.ok(new Set(work.map((t) => t.page)).size > 900, 'a busy kernel touches most of its pages');
  // Idle again once the work is over.
  assert.ok(idleAgain.length > 0 && idleAgain.every((t) => t.page < hot));
});

test('on a many-guest host each guest is idle before its workload starts and after it ends', () => {
  // Which guests the background saw as busy, sampled once a simulated 100 ms per guest.
  const samples: { guest: GuestOs; nowS: number; busy: boolean }[] = [];
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with its own `this` below
  const original = GuestOs.prototype.background;
  GuestOs.prototype.background = function (
    this: GuestOs,
    stop: () => boolean,
    busy: () => boolean = () => true,
  ): Program {
    const events = (this as unknown as { events: { nowNs: number } }).events;
    let lastNs = -Infinity;
    return original.call(this, stop, () => {
      const b = busy();
      if (events.nowNs - lastNs >= 1e8) {
        samples.push({ guest: this, nowS: events.nowNs / 1e9, busy: b });
        lastNs = events.nowNs;
      }
      return b;
    });
  };
  let r: ReturnType<typeof runMulti>;
  try {
    r = runMulti({
      config: 'baseline',
      seed: 1,
      guests: 2,
      guestMiB: 102.4,
      hostMiB: 8192 * 0.05,
      startIntervalS: 5,
      workload: buildWorkload({ kind: 'metis-wc' }, 0.05),
      scale: 0.05,
      sampleEverySec: 0.25,
      managerTimeScale: 0.05,
    });
  } finally {
    GuestOs.prototype.background = original;
  }
  const guests = [...new Set(samples.map((s) => s.guest))];
  assert.equal(guests.length, 2);
  // The second guest starts 5 s in and the first one ends before the run does.
  const second = samples.filter((s) => s.guest === guests[1]);
  assert.ok(second.filter((s) => s.nowS < 4.9).length >= 3);
  assert.ok(
    second.filter((s) => s.nowS < 4.9).every((s) => !s.busy),
    'idle before its start',
  );
  assert.ok(
    second.some((s) => s.nowS > 5.1 && s.busy),
    'busy once started',
  );
  const first = samples.filter((s) => s.guest === guests[0]);
  const endS = r.guests[0]!.startS + r.guests[0]!.runtimeS!;
  assert.ok(
    first.some((s) => s.nowS < endS - 0.1 && s.busy),
    'busy while its workload runs',
  );
  const after = first.filter((s) => s.nowS > endS + 0.1);
  assert.ok(after.length > 0, `the first guest (ended at ${endS.toFixed(1)} s) was sampled after its end`);
  assert.ok(
    after.every((s) => !s.busy),
    'idle after its workload ended',
  );
});
