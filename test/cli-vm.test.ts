/**
 * `vswapper vm` refuses every bad input before anything starts (one line, exit code 2, no file
 * made), and `vswapper ctl` speaks to a control socket. No QEMU is started by these tests.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Loop } from '../src/pager/loop.js';
import { ControlSocketServer } from '../src/pager/control/socket-server.js';
import { ImageCheckError, checkRawImage, partitionTableOf } from '../src/pager/image-check.js';
import { QemuArgsError, checkExtraQemuArgs } from '../src/pager/vm/extra-args.js';
import { FakeControlBackend } from './support/fake-control-backend.js';

const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

/** An image of `mib` MiB with an MBR whose one partition starts at `startSector` (`sizeSectors` long), or none. */
function mbrImage(path: string, startSector?: number, mib = 4, sizeSectors = 512): void {
  writeFileSync(path, '');
  truncateSync(path, mib * 2 ** 20);
  if (startSector === undefined) return;
  const b = Buffer.alloc(512);
  b[446 + 4] = 0x83;
  b.writeUInt32LE(startSector, 446 + 8);
  b.writeUInt32LE(sizeSectors, 446 + 12);
  b.writeUInt16LE(0xaa55, 510);
  const fd = spawnSync('dd', [`of=${path}`, 'conv=notrunc', 'status=none'], { input: b });
  assert.equal(fd.status, 0);
}

/** A GPT image written for 512-byte sectors (header at byte 512), its first partition at `startSector`. */
function gptImage(path: string, startSector: number): void {
  mbrImage(path, 1);
  const h = Buffer.alloc(34 * 512);
  h[446 + 4] = 0xee;
  h.writeUInt32LE(1, 446 + 8);
  h.writeUInt16LE(0xaa55, 510);
  h.write('EFI PART', 512, 'latin1');
  h.writeBigUInt64LE(2n, 512 + 72);
  h.writeUInt32LE(128, 512 + 80);
  h.writeUInt32LE(128, 512 + 84);
  h.fill(7, 1024, 1024 + 16); // a type GUID: the entry is used
  h.writeBigUInt64LE(BigInt(startSector), 1024 + 32);
  assert.equal(spawnSync('dd', [`of=${path}`, 'conv=notrunc', 'status=none'], { input: h }).status, 0);
}

/** A GPT written for 4096-byte sectors (header at byte 4096, entries at 8192), its first partition at `startBlock`. */
function gpt4kImage(path: string, startBlock: number): void {
  mbrImage(path, 1, 4, 1023);
  const h = Buffer.alloc(6 * 4096);
  h[446 + 4] = 0xee;
  h.writeUInt32LE(1, 446 + 8);
  h.writeUInt16LE(0xaa55, 510);
  h.write('EFI PART', 4096, 'latin1');
  h.writeBigUInt64LE(2n, 4096 + 72);
  h.writeUInt32LE(128, 4096 + 80);
  h.writeUInt32LE(128, 4096 + 84);
  h.fill(7, 8192, 8192 + 16);
  h.writeBigUInt64LE(BigInt(startBlock), 8192 + 32);
  assert.equal(spawnSync('dd', [`of=${path}`, 'conv=notrunc', 'status=none'], { input: h }).status, 0);
}

test('image check: tables read in 4096-byte sectors, as the guest on the pager disk reads them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-vm-'));
  const head = (p: string): Buffer =>
    spawnSync('dd', [`if=${p}`, 'bs=4096', 'count=6', 'status=none']).stdout;
  gptImage(join(dir, 'g512'), 2048);
  assert.deepEqual(partitionTableOf(head(join(dir, 'g512'))), { kind: 'gpt-512' });
  gpt4kImage(join(dir, 'g4k'), 256);
  assert.deepEqual(partitionTableOf(head(join(dir, 'g4k'))), {
    kind: 'gpt',
    partitions: [{ index: 1, startBlock: 256 }],
  });
  mbrImage(join(dir, 'm'), 256);
  assert.deepEqual(partitionTableOf(head(join(dir, 'm'))), {
    kind: 'mbr',
    partitions: [{ index: 1, startBlock: 256, sizeBlocks: 512 }],
  });
  mbrImage(join(dir, 'none'));
  assert.deepEqual(partitionTableOf(head(join(dir, 'none'))), { kind: 'none' });
  // The tables the guest can read pass the image check.
  for (const n of ['g4k', 'm', 'none']) checkRawImage(join(dir, n));
  assert.throws(() => checkRawImage(join(dir, 'g512')), ImageCheckError);
  rmSync(dir, { recursive: true, force: true });
});

test('vswapper vm: every bad input is one clear line, exit code 2, nothing started', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-vm-'));
  const good = join(dir, 'good.raw');
  mbrImage(good, 256);
  // fdisk's old layout, in 512-byte sectors: read in 4096-byte ones it ends past the image.
  const mis = join(dir, 'mis.raw');
  mbrImage(mis, 63, 4, 8000);
  // Today's 512-byte MBR at 1 MiB over the whole image: as far past the end.
  const mbr512 = join(dir, 'mbr512.raw');
  mbrImage(mbr512, 2048, 4, 6144);
  const gmis = join(dir, 'gmis.raw');
  gptImage(gmis, 2048);
  const qcow = join(dir, 'disk.qcow2');
  writeFileSync(qcow, Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), Buffer.alloc(4088)]));
  const odd = join(dir, 'odd.raw');
  writeFileSync(odd, Buffer.alloc(4097));
  const smallSwap = join(dir, 'small.swap');
  writeFileSync(smallSwap, Buffer.alloc(4096));
  // A live control socket: another VM's.
  const busy = join(dir, 'busy.sock');
  const loop = new Loop();
  const other = new ControlSocketServer(loop, busy, new FakeControlBackend());
  const turning = setInterval(() => loop.turn(0), 2);
  const base = ['vm', '--image', good, '--memory', '64M', '--limit', '32M', '--qemu', '/bin/true'];
  const with_ = (k: string, v: string): string[] => {
    const a = [...base];
    a[a.indexOf(k) + 1] = v;
    return a;
  };
  const cases: [string[], RegExp][] = [
    [with_('--image', join(dir, 'absent.raw')), /--image .*absent\.raw: no such file/],
    [with_('--image', qcow), /is qcow2 \(or qcow\), not raw: convert it with qemu-img convert -O raw/],
    [with_('--image', odd), /4097 bytes is not a whole number of 4 KiB blocks/],
    [
      with_('--image', mis),
      /partition 1 \(start 63, 8000 sectors\) ends past the image when read in 4096-byte sectors.*MBR was written for 512-byte sectors.*losetup --sector-size 4096/,
    ],
    [with_('--image', mbr512), /partition 1 \(start 2048, 6144 sectors\) ends past the image/],
    [
      with_('--image', gmis),
      /its GPT is written for 512-byte sectors \(header at byte 512\).*finds no partition/,
    ],
    [with_('--memory', 'lots'), /--memory must be a size like 512M or 2G, got "lots"/],
    [with_('--limit', '128M'), /--limit 128M is above --memory 64M/],
    [with_('--limit', '100K'), /--limit 100K is below the floor of 512 KiB/],
    [with_('--memory', '1000K'), /--memory must be a whole number of MiB/],
    [[...base, '--swap', smallSwap], /--swap .* is not a file of at least --memory/],
    [[...base, '--accel', 'hvf'], /--accel must be tcg or kvm, got "hvf"/],
    [[...base, '--control', busy], /another process listens on this control socket/],
    [with_('--qemu', join(dir, 'no-qemu')), /--qemu .*no-qemu: no such executable/],
    [with_('--qemu', 'qemu-system-nonesuch'), /QEMU \(qemu-system-nonesuch\) is not on the PATH/],
    [[...base, '--metrics-port', '70000'], /--metrics-port must be a port number 0\.\.65535/],
    [[...base, '--status-every', 'often'], /--status-every must be a number of seconds >= 0, got "often"/],
    // Extra QEMU arguments that would break the pager's contract.
    [[...base, '--', '-nographic', '-m', '1G'], /extra QEMU argument -m 1G: the guest memory is --memory/],
    [
      [...base, '--', '-object', 'memory-backend-ram,id=r,size=64M'],
      /extra QEMU argument -object memory-backend-ram.*another memory backend is not paged/,
    ],
    [
      [...base, '--', '-machine', 'q35,memory-backend=r'],
      /-machine q35,memory-backend=r: guest RAM is the pager's memfd/,
    ],
    [
      [...base, '--', '-drive', `file=${good},format=raw`],
      /this is --image, which the pager's daemon serves/,
    ],
    [[...base, '--', '-hda', good], /-hda .*this is --image/],
    [[...base, '--', '--name', 'mine'], /--name mine: vswapper vm names QEMU itself with debug-threads=on/],
    [[...base, '--', '-enable-kvm'], /-enable-kvm: the accelerator is chosen with --accel/],
    [[...base, '--', '-daemonize'], /-daemonize: QEMU must stay the child of vswapper vm/],
  ];
  // KVM: refused here unless this host has hardware virtualization (these machines' /dev/kvm is PVM).
  const kvm = run(...base, '--accel', 'kvm');
  if (kvm.status === 2)
    assert.match(kvm.stderr, /--accel kvm: not on this host: (no \/dev\/kvm|\/dev\/kvm is PVM|no vmx\/svm)/);
  try {
    const before = readdirSync(dir).sort();
    for (const [args, re] of cases) {
      // Run asynchronously: this process must keep turning the busy socket's loop meanwhile.
      const r = await new Promise<{ status: number | null; stderr: string }>((res) => {
        const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        c.stderr.on('data', (d) => (stderr += d));
        c.on('exit', (status) => res({ status, stderr }));
      });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
      const lines = r.stderr.trim().split('\n');
      assert.ok(lines.length <= 2, `one clear line (commander may add its usage hint): ${r.stderr}`);
      assert.deepEqual(readdirSync(dir).sort(), before, 'nothing made');
    }
    // Valid inputs: launched, and a QEMU that ends at once (/bin/true) is reported, nothing left
    // behind (the vm's work files in a cache of this test's own).
    const cache = join(dir, 'cache');
    const ok = spawnSync(
      process.execPath,
      [CLI, ...base, '--control', join(dir, 'ctl.sock'), '--metrics-port', '0', '--', '-nographic'],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, VSWAPPER_CACHE: cache } },
    );
    if (process.getuid?.() !== 0) {
      assert.equal(ok.status, 2, ok.stderr);
      assert.match(ok.stderr, /vswapper vm needs root/);
    } else {
      assert.equal(ok.status, 1, ok.stderr);
      assert.match(
        ok.stderr,
        /vswapper vm: QEMU ended before the guest started \(exit code 0\)|the userfaultfd shim did not build/,
      );
    }
    assert.equal(existsSync(join(dir, 'ctl.sock')), false);
    const left = existsSync(join(cache, 'pager', 'vm')) ? readdirSync(join(cache, 'pager', 'vm')) : [];
    assert.deepEqual(left, [], 'no work file or journal left');
  } finally {
    clearInterval(turning);
    other.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('extra QEMU arguments: the harmless pass through', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-vm-'));
  const img = join(dir, 'img.raw');
  const other = join(dir, 'data.raw');
  writeFileSync(img, '');
  writeFileSync(other, '');
  try {
    checkExtraQemuArgs(
      [
        '-nographic',
        '-smp',
        '2',
        '-machine',
        'q35',
        '-serial',
        'mon:stdio',
        '-netdev',
        'user,id=n0',
        '-device',
        'virtio-net-pci,netdev=n0',
        '-drive',
        `file=${other},format=raw,if=virtio`,
        '-object',
        'rng-random,id=rng0,filename=/dev/urandom',
      ],
      img,
    );
    // The same file under another name is still the image.
    assert.throws(
      () => checkExtraQemuArgs(['-drive', `if=virtio,file=${join(dir, '.', 'img.raw')}`], img),
      QemuArgsError,
    );
    assert.throws(
      () => checkExtraQemuArgs(['-mem-path', '/dev/hugepages'], img),
      /guest RAM is the pager's shared memfd/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vswapper ctl: a command, its JSON reply; a refused command exits 1; bad input exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsw-ctl-'));
  const sock = join(dir, 'c.sock');
  const b = new FakeControlBackend();
  const loop = new Loop();
  const server = new ControlSocketServer(loop, sock, b);
  const turning = setInterval(() => loop.turn(0), 2);
  const ctl = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((res) => {
      const c = spawn(process.execPath, [CLI, 'ctl', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      c.on('exit', (status) => res({ status, stdout, stderr }));
    });
  try {
    const st = await ctl(sock, 'query-status');
    assert.equal(st.status, 0, st.stderr);
    assert.equal((JSON.parse(st.stdout) as { memoryPages: number }).memoryPages, 1024);
    const set = await ctl(sock, 'set-limit', '{"pages":300}');
    assert.equal(set.status, 0, set.stderr);
    assert.deepEqual(JSON.parse(set.stdout), { limitPages: 300, residentPages: 300 });
    assert.equal(b.limit, 300);
    const refused = await ctl(sock, 'set-limit', '{"pages":5000}');
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /^vswapper ctl: GenericError: set-limit: 'pages' 5000 is above the guest's memory/,
    );
    const badJson = await ctl(sock, 'set-limit', '{pages:1}');
    assert.equal(badJson.status, 2);
    assert.match(badJson.stderr, /JSON-ARGS is not JSON/);
    const noSock = await ctl(join(dir, 'none.sock'), 'query-status');
    assert.equal(noSock.status, 2);
    assert.match(noSock.stderr, /none\.sock: cannot connect \(ENOENT\)/);
  } finally {
    clearInterval(turning);
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
