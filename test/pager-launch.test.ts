/**
 * The launch the experiments' runs and `vswapper vm` share (src/pager/launch.ts): the experiment's
 * QEMU arguments and environment are those `run.ts` wrote before the launch was factored out; a
 * user's VM keeps QEMU's default machine type (or the user's -machine). No QEMU is started.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pagerQemuArgs, shimEnv } from '../src/pager/launch.js';
import { statusLine } from '../src/pager/vm/status.js';

test("the experiments' QEMU arguments are run.ts's as they were", () => {
  assert.deepEqual(
    pagerQemuArgs({ ramMiB: 512, vhostSocket: '/w/v.sock', name: 'vswapper-pager', machineType: 'pc' }),
    [
      '-S',
      '-name',
      'vswapper-pager,debug-threads=on',
      '-object',
      'memory-backend-memfd,id=mem,size=512M,share=on',
      '-machine',
      'pc,memory-backend=mem',
      '-chardev',
      'socket,id=vhost0,path=/w/v.sock',
      '-device',
      'vhost-user-blk-pci,chardev=vhost0,num-queues=1',
    ],
  );
  const vm = pagerQemuArgs({ ramMiB: 2048, vhostSocket: '/w/v.sock', name: 'vswapper-vm-1-2' });
  assert.equal(vm[vm.indexOf('-machine') + 1], 'memory-backend=mem');
  assert.equal(vm[vm.indexOf('-object') + 1], 'memory-backend-memfd,id=mem,size=2048M,share=on');
});

test("the shim's environment: the hand-over socket, and the intercept's region for the Preventer", () => {
  const base = { PATH: '/bin' };
  assert.deepEqual(shimEnv(base, { shim: '/c/s.so', shimSocket: '/w/s.sock' }), {
    PATH: '/bin',
    LD_PRELOAD: '/c/s.so',
    VSWAPPER_UFFD_SOCK: '/w/s.sock',
  });
  const p = shimEnv(base, { shim: '/c/s.so', shimSocket: '/w/s.sock', preventerRamBytes: 512 * 2 ** 20 });
  assert.equal(p.VSWAPPER_INTERCEPT, 'mem:131072');
  assert.deepEqual(base, { PATH: '/bin' }, "the caller's environment untouched");
});

test('a status line: resident against the limit in MiB, swapped and named pages, faults', () => {
  const line = statusLine(12.4, {
    residentPages: 24576,
    residentLimitPages: 24576,
    swapUsedSlots: 4006,
    namedResidentPages: 3,
    hostFaultsInGuest: 57,
    hostFaultsInHost: 1,
    swapReadPages: 386,
    swapWritePages: 4254,
    deviceRequests: 9,
  });
  assert.equal(
    line,
    '12 s: resident 96.0/96.0 MiB, swapped 4006 pages, named 3, faults guest/host 57/1, swap read/written 386/4254 pages, disk requests 9',
  );
});
