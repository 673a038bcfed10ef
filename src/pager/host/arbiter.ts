import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  HostLimitTooLowError,
  type HostLimitsPlantedBug,
  type VmMemoryStats,
  decideHostLimits,
  hostLimitsProblems,
} from '../../policy/host-limits.js';
import { ControlClient, ControlClientError, ControlRefusedError } from './control-client.js';
import { PAGE_SIZE_BYTES as PAGE } from '../../core/index.js';

/** `vswapper host`'s input was wrong (checked before it starts): exit code 2. */
export class HostInputError extends Error {
  override name = 'HostInputError';
}

/**
 * The counters that count a page the guest asked for and did not have (src/core/counters.ts):
 * major faults in guest and in host context, and zero fills (a first touch takes a frame too).
 */
const FAULT_COUNTERS = ['hostFaultsInGuest', 'hostFaultsInHost', 'zeroFills'] as const;

export interface ArbiterOptions {
  /** The host-wide limit on every VM's resident pages together, in bytes. */
  hostLimitBytes: number;
  /** The VMs' control sockets (`vswapper vm --control`). */
  sockets: readonly string[];
  /** Time between ticks, ms. */
  intervalMs: number;
  /** One JSON object a line: every decision, every VM that went away. */
  log: (record: Record<string, unknown>) => void;
  signal?: AbortSignal;
  /** Test-only seams: a bug planted in the policy, or limits raised before the others are lowered. */
  plantedBug?: HostLimitsPlantedBug | 'raise-first';
  /** How long a VM has to answer, ms. */
  replyTimeoutMs?: number;
}

interface Vm {
  socket: string;
  client: ControlClient;
  memoryPages: number;
  floorPages: number;
  limitPages: number;
  /** FAULT_COUNTERS' sum at the previous tick (undefined before the first). */
  faultsSeen: number | undefined;
}

export interface ArbiterResult {
  ended: 'all-gone' | 'signal';
  ticks: number;
}

/**
 * The host-wide arbiter: one process over many VMs, each with its own daemon (its pager), through
 * their control sockets. Every tick it reads each VM's status and stats, asks the policy
 * (src/policy/host-limits.ts) for new limits, checks them (sum at most the host limit), and
 * applies them: every lowered limit first, and only once those are in force the raised ones, so
 * the sum of the limits in force never exceeds the host limit, also between the two steps. A VM
 * that goes away (its socket closes, a command fails) is dropped: its share goes to the others at
 * the next tick. It ends when every VM has gone, or on the signal.
 */
export async function runArbiter(o: ArbiterOptions): Promise<ArbiterResult> {
  const vms = await openVms(o);
  const hostLimitPages = Math.floor(o.hostLimitBytes / PAGE);
  const log = (event: string, data: Record<string, unknown>): void =>
    o.log({ t: new Date().toISOString(), event, ...data });
  const drop = (vm: Vm, why: string): void => {
    const i = vms.indexOf(vm);
    if (i < 0) return;
    vms.splice(i, 1);
    vm.client.close();
    log('vm-gone', { socket: vm.socket, reason: why, remaining: vms.length });
  };
  log('start', {
    hostLimitPages,
    intervalMs: o.intervalMs,
    vms: vms.map((v) => ({ socket: v.socket, memoryPages: v.memoryPages, floorPages: v.floorPages })),
  });
  let ticks = 0;
  while (vms.length > 0 && !o.signal?.aborted) {
    await tick(vms, hostLimitPages, o, log, drop, ticks);
    ticks++;
    if (vms.length === 0) break;
    await sleep(o.intervalMs, o.signal);
  }
  for (const v of vms) v.client.close();
  log('end', { ticks, reason: vms.length === 0 ? 'every VM has gone' : 'signal' });
  return { ended: vms.length === 0 ? 'all-gone' : 'signal', ticks };
}

async function openVms(o: ArbiterOptions): Promise<Vm[]> {
  if (o.sockets.length === 0) throw new HostInputError('give at least one VM control socket');
  if (!(Number.isFinite(o.intervalMs) && o.intervalMs > 0))
    throw new HostInputError(`--every must be a positive time, got ${o.intervalMs} ms`);
  const seen = new Map<string, string>();
  for (const s of o.sockets) {
    let key = resolve(s);
    try {
      key = realpathSync(s);
    } catch {
      // An absent path is reported by the connection below, naming it.
    }
    const first = seen.get(key);
    if (first !== undefined)
      throw new HostInputError(`${s}: the same control socket as ${first} (each VM once)`);
    seen.set(key, s);
  }
  const vms: Vm[] = [];
  try {
    for (const socket of o.sockets) {
      let client: ControlClient;
      try {
        client = await ControlClient.open(socket, o.replyTimeoutMs);
      } catch (e) {
        throw new HostInputError((e as Error).message);
      }
      const st = (await client.cmd('query-status')) as Record<string, unknown>;
      const memoryPages = Number(st.memoryPages);
      const floorPages = Number(st.floorPages);
      if (!(Number.isSafeInteger(memoryPages) && Number.isSafeInteger(floorPages))) {
        client.close();
        throw new HostInputError(
          `${socket}: query-status gives no memoryPages/floorPages (an older daemon?)`,
        );
      }
      vms.push({
        socket,
        client,
        memoryPages,
        floorPages,
        limitPages: Number(st.limitPages),
        faultsSeen: undefined,
      });
    }
    const floors = vms.reduce((a, v) => a + v.floorPages, 0);
    const hostPages = Math.floor(o.hostLimitBytes / PAGE);
    if (floors > hostPages)
      throw new HostInputError(
        `--limit ${o.hostLimitBytes} bytes (${hostPages} pages) is below the sum of the VMs' floors (${floors} pages: ${vms.map((v) => v.floorPages).join(' + ')})`,
      );
  } catch (e) {
    for (const v of vms) v.client.close();
    if (e instanceof ControlClientError || e instanceof ControlRefusedError)
      throw new HostInputError(e.message);
    throw e;
  }
  return vms;
}

async function tick(
  vms: Vm[],
  hostLimitPages: number,
  o: ArbiterOptions,
  log: (event: string, data: Record<string, unknown>) => void,
  drop: (vm: Vm, why: string) => void,
  n: number,
): Promise<void> {
  // Each VM's status and stats; a VM that fails to answer is gone.
  const read = await Promise.all(
    vms.map(async (vm) => {
      try {
        const st = (await vm.client.cmd('query-status')) as Record<string, unknown>;
        const stats = (await vm.client.cmd('query-stats')) as Record<string, number>;
        return { vm, st, stats };
      } catch (e) {
        drop(vm, (e as Error).message);
        return undefined;
      }
    }),
  );
  const live = read.filter((r) => r !== undefined);
  if (live.length === 0) return;
  const inputs: VmMemoryStats[] = live.map(({ vm, st, stats }) => {
    const faults = FAULT_COUNTERS.reduce((a, k) => a + (Number.isFinite(stats[k]) ? stats[k]! : 0), 0);
    const faultedPages = vm.faultsSeen === undefined ? 0 : Math.max(0, faults - vm.faultsSeen);
    vm.faultsSeen = faults;
    vm.limitPages = Number(st.limitPages);
    return {
      memoryPages: vm.memoryPages,
      floorPages: vm.floorPages,
      residentPages: Number(st.residentPages) || 0,
      faultedPages,
    };
  });
  let decision;
  try {
    decision = decideHostLimits(
      hostLimitPages,
      inputs,
      o.plantedBug === 'raise-first' ? undefined : o.plantedBug,
    );
  } catch (e) {
    if (!(e instanceof HostLimitTooLowError)) throw e;
    log('refused', { tick: n, reason: e.message });
    return;
  }
  const problems = hostLimitsProblems(hostLimitPages, inputs, decision.limitsPages);
  if (problems.length > 0) {
    // Never applied: the limits in force stay as they are.
    log('refused', { tick: n, reason: 'the decision breaks the host limit', problems });
    return;
  }
  const plan = live.map(({ vm }, i) => ({ vm, old: vm.limitPages, limit: decision.limitsPages[i]! }));
  const apply = async (steps: typeof plan): Promise<void> => {
    await Promise.all(
      steps.map(async (s) => {
        try {
          await s.vm.client.cmd('set-limit', { pages: s.limit });
          s.vm.limitPages = s.limit;
        } catch (e) {
          if (e instanceof ControlRefusedError)
            log('set-limit-refused', { socket: s.vm.socket, reason: e.message });
          else drop(s.vm, (e as Error).message);
        }
      }),
    );
  };
  const lower = plan.filter((s) => s.limit < s.old);
  const raise = plan.filter((s) => s.limit > s.old);
  if (o.plantedBug === 'raise-first') {
    await apply(raise);
    await apply(lower);
  } else {
    await apply(lower);
    await apply(raise);
  }
  log('tick', {
    tick: n,
    regime: decision.regime,
    hostLimitPages,
    sumLimitsPages: plan.reduce((a, s) => a + s.vm.limitPages, 0),
    vms: plan.map((s, i) => ({
      socket: s.vm.socket,
      residentPages: inputs[i]!.residentPages,
      faultedPages: inputs[i]!.faultedPages,
      demandPages: decision.demandsPages[i],
      oldLimitPages: s.old,
      limitPages: s.vm.limitPages,
    })),
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal?.aborted) return res();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
