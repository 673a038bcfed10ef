/**
 * The host costs behind the simulator's §5.3 Mapper overheads (src/sim/costs.ts: mapperMapPageNs,
 * namedCowNs), measured here by bench/native/mapper-costs.c when a C compiler is present.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PAPER_MACHINE } from '../src/sim/machine.js';

const SOURCE = join(import.meta.dirname, '..', '..', 'bench', 'native', 'mapper-costs.c');

export function mapperCostsBench(): void {
  console.log('Mapper host costs (bench/native/mapper-costs.c, min over 40 rounds of 4,096 pages):');
  const dir = mkdtempSync(join(tmpdir(), 'vsw-mapper-costs-'));
  try {
    const exe = join(dir, 'mapper-costs');
    const cc = spawnSync('cc', ['-O2', '-o', exe, SOURCE], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) {
      console.log(`  skipped: no C compiler (${cc.error?.message ?? cc.stderr.trim()})`);
      return;
    }
    const run = spawnSync(exe, [join(dir, 'scratch')], { encoding: 'utf8' });
    if (run.status !== 0) {
      console.log(`  failed: ${run.stderr.trim()}`);
      return;
    }
    const m = JSON.parse(run.stdout) as Record<string, number>;
    const us = (ns: number): string => (ns / 1000).toFixed(2).padStart(6);
    console.log(`  pread of 4 KiB          ${us(m.preadNs!)} us`);
    console.log(
      `  mmap(MAP_FIXED) 1 page  ${us(m.mmapNs!)} us (${(m.mmapNs! / m.preadNs!).toFixed(1)}x the read)`,
    );
    console.log(`  read fault on it        ${us(m.readFaultNs!)} us`);
    console.log(`  first write (COW)       ${us(m.cowNs!)} us`);
    console.log(`  ioctl system call       ${us(m.ioctlNs!)} us`);
    const c = PAPER_MACHINE.costs;
    console.log(
      `  simulator uses: mapperMapPageNs ${us(c.mapperMapPageNs)} us (mmap + ioctl), namedCowNs ${us(c.namedCowNs)} us (COW + exit)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
