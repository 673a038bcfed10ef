import type { BalloonPolicy, HostMemoryStats } from '../policy/balloon-policy.js';
import {
  type GuestCounters,
  type QomGuestStats,
  findBalloonDevice,
  guestStatsFromQmp,
} from './balloon-stats.js';
import { QmpClient, type QmpConnectOptions } from './qmp.js';

/**
 * MOM's main loop against real QEMUs: every `statsIntervalS` it reads the host's memory and each
 * guest's balloon statistics over QMP, every `policyIntervalS` it asks the policy (the same
 * src/policy code the simulator's host uses) and sets the targets it returns with QMP `balloon`.
 * One manager serves many guests, one QMP connection each. Every decision, balloon event and guest
 * coming or going is a log record (JSON lines in the CLI).
 */

export type ManagerLogRecord =
  | { tS: number; kind: 'guest'; guest: string; socket: string; device: string; ramMiB: number }
  | { tS: number; kind: 'gone'; guest: string; why: string }
  | { tS: number; kind: 'no-stats'; guest: string }
  | {
      tS: number;
      kind: 'decision';
      guest: string;
      /** The policy's target: memory the guest should have, MiB. */
      targetMiB: number;
      /** What the guest had when the policy decided (`actual`), MiB. */
      actualMiB: number;
      hostFreePct: number;
      guestUnusedMiB: number;
    }
  | { tS: number; kind: 'balloon-change'; guest: string; actualMiB: number }
  | { tS: number; kind: 'error'; guest: string; message: string };

interface Guest {
  name: string;
  qmp: QmpClient;
  device: string;
  maxBytes: number;
  actualBytes: number;
  counters: GuestCounters | undefined;
  lastStats: { unusedKiB: number } | undefined;
  noStatsLogged: boolean;
}

export interface BalloonManagerOptions {
  policy: BalloonPolicy;
  host: () => HostMemoryStats;
  log: (r: ManagerLogRecord) => void;
  /** Seconds since the manager started (a clock the tests can drive). */
  nowS?: () => number;
}

const MiB = 1048576;

export class BalloonManager {
  private readonly guests = new Map<string, Guest>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly nowS: () => number;
  private lastHostFree = 1;
  private busy: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: BalloonManagerOptions) {
    const t0 = performance.now();
    this.nowS = o.nowS ?? (() => Math.round(performance.now() - t0) / 1000);
  }

  get guestNames(): string[] {
    return [...this.guests.keys()];
  }

  /**
   * Connects to one QEMU's QMP socket, checks it has an active virtio-balloon, finds the device's
   * QOM path and asks the guest's driver for statistics every `statsIntervalS` (QEMU's
   * `guest-stats-polling-interval` counts whole seconds: at least 1).
   */
  async addGuest(name: string, socket: string, c: QmpConnectOptions = {}): Promise<void> {
    if (this.guests.has(name)) throw new Error(`balloon manager: guest ${name} is already managed`);
    const qmp = await QmpClient.connect(socket, c);
    try {
      const device = await findBalloonDevice(qmp);
      const mem = await qmp.execute<{ 'base-memory': number; 'plugged-memory'?: number }>(
        'query-memory-size-summary',
      );
      const maxBytes = mem['base-memory'] + (mem['plugged-memory'] ?? 0);
      const poll = Math.max(1, Math.round(this.o.policy.statsIntervalS));
      await qmp.execute('qom-set', { path: device, property: 'guest-stats-polling-interval', value: poll });
      const { actual } = await qmp.execute<{ actual: number }>('query-balloon');
      const g: Guest = {
        name,
        qmp,
        device,
        maxBytes,
        actualBytes: actual,
        counters: undefined,
        lastStats: undefined,
        noStatsLogged: false,
      };
      this.guests.set(name, g);
      qmp.onEvent((e) => {
        if (e.event === 'BALLOON_CHANGE' && typeof e.data.actual === 'number') {
          g.actualBytes = e.data.actual;
          this.o.log({ tS: this.nowS(), kind: 'balloon-change', guest: name, actualMiB: mib(e.data.actual) });
        }
      });
      qmp.onClose((why) => this.drop(name, why));
      this.o.log({ tS: this.nowS(), kind: 'guest', guest: name, socket, device, ramMiB: mib(maxBytes) });
    } catch (e) {
      qmp.close();
      throw e;
    }
  }

  private drop(name: string, why: string): void {
    if (!this.guests.delete(name)) return;
    this.o.policy.forgetGuest(name);
    this.o.log({ tS: this.nowS(), kind: 'gone', guest: name, why });
  }

  /** One statistics round: the host, then every guest (a guest that fails is logged and dropped). */
  async sampleOnce(): Promise<void> {
    const host = this.o.host();
    this.o.policy.observeHost(host);
    this.lastHostFree = host.memTotalKiB > 0 ? host.memFreeKiB / host.memTotalKiB : 1;
    await Promise.all(
      [...this.guests.values()].map(async (g) => {
        try {
          const [bal, gs] = await Promise.all([
            g.qmp.execute<{ actual: number }>('query-balloon'),
            g.qmp.execute<QomGuestStats>('qom-get', { path: g.device, property: 'guest-stats' }),
          ]);
          g.actualBytes = bal.actual;
          const r = guestStatsFromQmp(bal.actual, g.maxBytes, gs, g.counters);
          if (!r) {
            if (!g.noStatsLogged) this.o.log({ tS: this.nowS(), kind: 'no-stats', guest: g.name });
            g.noStatsLogged = true;
            return;
          }
          g.counters = r.counters;
          g.lastStats = { unusedKiB: r.stats.memUnusedKiB };
          this.o.policy.observeGuest(g.name, r.stats);
        } catch (e) {
          this.fail(g, e as Error);
        }
      }),
    );
  }

  /** One policy round: the policy's targets, each set with `balloon` and logged. */
  async decideOnce(): Promise<void> {
    const targets = this.o.policy.decide();
    await Promise.all(
      targets.map(async (t) => {
        const g = this.guests.get(t.guest);
        if (!g) return;
        const value = Math.round(t.targetKiB / 4) * 4096;
        this.o.log({
          tS: this.nowS(),
          kind: 'decision',
          guest: g.name,
          targetMiB: mib(value),
          actualMiB: mib(g.actualBytes),
          hostFreePct: Math.round(this.lastHostFree * 1000) / 10,
          guestUnusedMiB: mib((g.lastStats?.unusedKiB ?? 0) * 1024),
        });
        try {
          await g.qmp.execute('balloon', { value });
        } catch (e) {
          this.fail(g, e as Error);
        }
      }),
    );
  }

  private fail(g: Guest, e: Error): void {
    if (g.qmp.isClosed) return; // its close already dropped it
    this.o.log({ tS: this.nowS(), kind: 'error', guest: g.name, message: e.message });
  }

  /**
   * Samples now and every statsIntervalS, decides every policyIntervalS (first after one policy
   * interval, as MOM's policy thread waits for data); rounds never overlap.
   */
  start(): void {
    const p = this.o.policy;
    const serial = (f: () => Promise<void>) => () => {
      this.busy = this.busy.then(f, f);
    };
    serial(() => this.sampleOnce())();
    this.timers.push(
      setInterval(
        serial(() => this.sampleOnce()),
        p.statsIntervalS * 1000,
      ),
    );
    this.timers.push(
      setInterval(
        serial(() => this.decideOnce()),
        p.policyIntervalS * 1000,
      ),
    );
  }

  /** Stops the rounds and closes every connection (the guests' balloons stay where they are). */
  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.busy.catch(() => undefined);
    for (const g of [...this.guests.values()]) g.qmp.close();
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / MiB) * 10) / 10;
}
