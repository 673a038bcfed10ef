import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import type { SimJob } from './job.js';
import { CONFIG_NAMES, type FigureResult, type RunRecord } from '../engine/results.js';
import { runJobs, type PoolProgress } from './pool.js';
import { figureMeta } from './figures.js';
import { type DiskSpec, PAPER_MACHINE } from '../sim/machine.js';
import { GUEST_OS_KINDS } from '../sim/guest/guest-model.js';
import { DEFAULT_CORE_TUNABLES, SWAP_READAHEAD_POLICIES, type SwapReadaheadName } from '../core/index.js';
import type { WorkloadSpec } from '../workloads/index.js';

const positive = (what: string) =>
  z.number({ error: `${what} must be a number` }).positive(`${what} must be positive`);

/** The core's swap readahead policies, by name: a policy added to the registry is accepted here. */
const SWAP_READAHEAD_NAMES = Object.keys(SWAP_READAHEAD_POLICIES) as [
  SwapReadaheadName,
  ...SwapReadaheadName[],
];

const hddSchema = z
  .object({
    capacityBytes: z.number().positive(),
    rpm: z.number().positive(),
    avgSeekMs: z.number().positive(),
    trackToTrackSeekMs: z.number().positive(),
    outerMBps: z.number().positive(),
    innerMBps: z.number().positive(),
    cacheSegments: z.number().int().positive(),
    readAheadBytes: z.number().positive(),
    commandOverheadUs: z.number().positive(),
  })
  .partial()
  .strict();

const ssdSchema = z
  .object({
    capacityBytes: z.number().positive(),
    readLatencyUs: z.number().positive(),
    writeLatencyUs: z.number().positive(),
    readMBps: z.number().positive(),
    writeMBps: z.number().positive(),
    channels: z.number().int().positive(),
  })
  .partial()
  .strict();

/** A user-written experiment (`vswapper run FILE.yaml`). Unknown fields are errors, not ignored. */
export const experimentSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'name may hold letters, digits, ".", "_" and "-" only'),
    engine: z.literal('sim').default('sim'),
    seed: z.number().int().nonnegative().default(1),
    scale: z.number().positive().max(1).default(1),
    configs: z.array(z.enum(CONFIG_NAMES)).min(1, 'list at least one configuration'),
    guest: z
      .object({
        believedMiB: positive('guest.believedMiB').default(512),
        actualMiB: z.union([positive('guest.actualMiB'), z.array(positive('guest.actualMiB')).min(1)]),
        kernelMiB: positive('guest.kernelMiB').default(40),
        swapMiB: z.number().nonnegative('guest.swapMiB must not be negative').default(0),
        history: z.enum(['reclaimed', 'fresh']).default('reclaimed'),
        asyncPageFaults: z.boolean({ error: 'guest.asyncPageFaults must be true or false' }).optional(),
        /** The guest operating system: 'windows' is §5.4's (src/sim/guest/windows-os.ts). */
        os: z
          .enum(GUEST_OS_KINDS, { error: `guest.os must be one of ${GUEST_OS_KINDS.join(', ')}` })
          .default('linux'),
      })
      .strict(),
    host: z
      .object({
        swapMiB: positive('host.swapMiB').default(PAPER_MACHINE.swapMiB),
        swapReadahead: z
          .enum(SWAP_READAHEAD_NAMES, {
            error: `host.swapReadahead must be one of ${SWAP_READAHEAD_NAMES.join(', ')}`,
          })
          .default(DEFAULT_CORE_TUNABLES.swapReadahead),
        disk: z
          .discriminatedUnion('kind', [
            z.object({ kind: z.literal('hdd'), hdd: hddSchema.optional() }).strict(),
            z.object({ kind: z.literal('ssd'), ssd: ssdSchema.optional() }).strict(),
          ])
          .default({ kind: 'hdd' }),
      })
      .strict()
      .default({
        swapMiB: PAPER_MACHINE.swapMiB,
        swapReadahead: DEFAULT_CORE_TUNABLES.swapReadahead,
        disk: { kind: 'hdd' },
      }),
    workload: z.discriminatedUnion('kind', [
      z
        .object({
          kind: z.literal('sysbench'),
          fileMiB: positive('workload.fileMiB').default(200),
          blockKiB: positive('workload.blockKiB').default(16),
          iterations: z.number().int().positive().default(8),
        })
        .strict(),
      z
        .object({
          kind: z.literal('false-reads'),
          fileMiB: positive('workload.fileMiB').default(200),
          blockKiB: positive('workload.blockKiB').default(16),
          iterations: z.literal(1).default(1),
          allocMiB: positive('workload.allocMiB').default(200),
        })
        .strict(),
      z
        .object({
          kind: z.literal('pbzip2'),
          inputMiB: positive('workload.inputMiB').optional(),
          threads: z.number().int().positive().optional(),
          blockKB: positive('workload.blockKB').optional(),
          cpuNsPerByte: positive('workload.cpuNsPerByte').optional(),
          compressedRatio: z.number().positive().max(1).optional(),
          maxMemoryMB: positive('workload.maxMemoryMB').optional(),
        })
        .strict(),
      z
        .object({
          kind: z.literal('bzip2'),
          inputMiB: positive('workload.inputMiB').optional(),
          blockKB: positive('workload.blockKB').optional(),
          cpuNsPerByte: positive('workload.cpuNsPerByte').optional(),
          compressedRatio: z.number().positive().max(1).optional(),
        })
        .strict(),
      z
        .object({
          kind: z.literal('kernbench'),
          units: z.number().int().positive().optional(),
          jobs: z.number().int().positive().optional(),
          cpuSecPerUnit: positive('workload.cpuSecPerUnit').optional(),
          cc1MiB: positive('workload.cc1MiB').optional(),
          objectKiB: positive('workload.objectKiB').optional(),
          treeMiB: z.number().min(0).optional(),
        })
        .strict(),
      z
        .object({
          kind: z.literal('eclipse'),
          heapMiB: positive('workload.heapMiB').optional(),
          nonHeapMiB: positive('workload.nonHeapMiB').optional(),
          allocMiBPerCpuSec: positive('workload.allocMiBPerCpuSec').optional(),
        })
        .strict(),
    ]),
  })
  .strict()
  .superRefine((e, ctx) => {
    const actual = Array.isArray(e.guest.actualMiB) ? e.guest.actualMiB : [e.guest.actualMiB];
    actual.forEach((a, i) => {
      if (a > e.guest.believedMiB) {
        ctx.addIssue({
          code: 'custom',
          path: ['guest', 'actualMiB', ...(Array.isArray(e.guest.actualMiB) ? [i] : [])],
          message: `actualMiB (${a}) exceeds believedMiB (${e.guest.believedMiB})`,
        });
      }
    });
    if (e.guest.os === 'windows' && e.guest.asyncPageFaults === true)
      ctx.addIssue({
        code: 'custom',
        path: ['guest', 'asyncPageFaults'],
        message: "a Windows guest has no KVM asynchronous page faults (they need Linux's kvm_para driver)",
      });
    if (e.guest.kernelMiB >= e.guest.believedMiB)
      ctx.addIssue({
        code: 'custom',
        path: ['guest', 'kernelMiB'],
        message: 'kernelMiB must be smaller than believedMiB',
      });
  });

export type Experiment = z.infer<typeof experimentSchema>;

/** The experiment file is unreadable or invalid; the message names the file, the field and the problem. */
export class ExperimentFileError extends Error {
  override name = 'ExperimentFileError';
}

export function parseExperiment(text: string, source = 'experiment'): Experiment {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new ExperimentFileError(`${source}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const r = experimentSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map(
      (i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`,
    );
    throw new ExperimentFileError(`${source}: invalid experiment\n${lines.join('\n')}`);
  }
  return r.data;
}

export function loadExperiment(path: string): Experiment {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ExperimentFileError(
      `${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseExperiment(text, path);
}

/**
 * Runs an experiment on the simulator. With one actual memory size the x axis is the iteration;
 * with several it is the memory size (MB) and the metrics cover all iterations.
 */
export async function runExperiment(
  e: Experiment,
  onProgress?: (p: PoolProgress & { done: number; total: number }) => void,
): Promise<FigureResult> {
  const sizes = Array.isArray(e.guest.actualMiB) ? e.guest.actualMiB : [e.guest.actualMiB];
  const jobs: SimJob[] = [];
  for (const config of e.configs) {
    for (const actual of sizes) {
      jobs.push({
        config,
        seed: e.seed,
        guestBelievedMiB: e.guest.believedMiB,
        guestActualMiB: actual,
        guestKernelMiB: e.guest.kernelMiB,
        swapMiB: e.host.swapMiB,
        swapReadahead: e.host.swapReadahead,
        // zod's partial objects carry explicit undefineds; the disk models ignore those.
        disk: e.host.disk as unknown as DiskSpec,
        // Optional workload parameters zod left undefined mean "the paper's value".
        workload: e.workload as WorkloadSpec,
        scale: e.scale,
        ...(e.guest.swapMiB > 0 ? { guestSwapMiB: e.guest.swapMiB } : {}),
        ...(e.guest.history === 'fresh' ? { history: 'fresh' as const } : {}),
        // Linux guests enable KVM's async page faults unless told not to; Windows has none.
        ...(e.guest.os === 'windows' ? { guestOs: 'windows' as const } : {}),
        ...((e.guest.asyncPageFaults ?? e.guest.os === 'linux') ? {} : { guestAsyncPageFaults: false }),
      });
    }
  }
  const t0 = performance.now();
  let done = 0;
  const results = await runJobs(jobs, (p) => {
    if (p.event === 'done') done++;
    onProgress?.({ ...p, done, total: jobs.length });
  });
  const runs: RunRecord[] = [];
  results.forEach((r, i) => {
    const j = jobs[i]!;
    if (sizes.length === 1)
      r.iterations.forEach((m, k) => runs.push({ config: j.config, x: k + 1, metrics: m, notes: r.notes }));
    else runs.push({ config: j.config, x: j.guestActualMiB, metrics: r.total, notes: r.notes });
  });
  return {
    figure: e.name,
    engine: 'sim',
    runs,
    meta: figureMeta(e.scale, performance.now() - t0, [e.seed], {
      seed: e.seed,
      // One run per point: a user's experiment has one seed, not the paper's five.
      runsPerPoint: 1,
      xAxis: sizes.length === 1 ? 'iteration' : 'guest actual memory [MiB]',
      model: `${diskText(e.host.disk as unknown as DiskSpec)}, Xeon E5-2420 KVM costs, QEMU 1.2 code paging, ${e.guest.os === 'windows' ? 'Windows Server 2012-like guest' : 'Linux 3.7-like reclaim'}`,
      guest: `${e.guest.believedMiB} MiB believed, ${sizes.join(', ')} MiB actual, ${e.guest.kernelMiB} MiB kernel, guest swap ${e.guest.swapMiB} MiB`,
    }),
  };
}

/** The host's disk as the provenance names it: the paper's drive, or the SSD model, with any changes. */
function diskText(d: DiskSpec): string {
  const changed = (o: object | undefined): string => {
    const set = Object.entries(o ?? {}).filter(([, v]) => v !== undefined);
    return set.length === 0 ? '' : ` (${set.map(([k, v]) => `${k} ${String(v)}`).join(', ')})`;
  };
  return d.kind === 'ssd'
    ? `SATA SSD (2013 model)${changed(d.ssd)}`
    : `Seagate Constellation ES 2 TB HDD${changed(d.hdd)}`;
}
