import {
  CONFIG_NAMES,
  type ConfigName,
  type EngineName,
  type FigureResult,
  isPaperConfig,
} from './results.js';

/**
 * What every engine offers the CLI, the tests and library users: which figures and configurations it
 * has, whether it can run here (and if not, why), and a figure's run. The simulator, the two real
 * QEMU engines and any later one (a KVM VMM of our own) implement it; `src/experiments/engines.ts`
 * lists them.
 */
export interface Engine {
  readonly name: EngineName;
  /** One line for `--help` and error messages. */
  readonly summary: string;
  /** The paper figures it reproduces. */
  readonly figures: readonly EngineFigure[];
  /** The configurations it can run at all (where `availability()` says so); the others it reports empty. */
  readonly configs: readonly ConfigName[];
  /** Why it cannot run each of the others, on any host (e.g. "mapper needs a changed hypervisor"). */
  readonly cannot: Readonly<Partial<Record<ConfigName, string>>>;
  /** Whether it can use this machine's disk as it is instead of the paper's drive (`--unthrottled`). */
  readonly unthrottled: boolean;
  /** The smallest `scale` its models hold at (default: any in (0, 1]). */
  readonly minScale?: number;
  /** Whether the engine, and each configuration, can run on this host; cheap, touches nothing. */
  availability(): Promise<Availability>;
  /**
   * Runs one figure. Checks the request (`checkRequest`) and availability before any work, throwing
   * `EngineInputError` or `EngineUnavailableError` naming the problem.
   */
  runFigure(figure: string, options: FigureRunOptions): Promise<FigureResult>;
  /** Several figures at once, for engines whose figures share runs (the simulator's fig3 and fig9). */
  runFigures?(figures: readonly string[], options: FigureRunOptions): Promise<FigureResult[]>;
}

/** One figure as an engine produces it. */
export interface EngineFigure {
  readonly id: string;
  /** The configurations its records carry (those the engine cannot run come as empty records). */
  readonly configs: readonly ConfigName[];
  readonly x: FigureX;
  /** It can give every guest a swap partition of its own (FigureRunOptions.guestSwapMiB): §5.2's figures. */
  readonly guestSwap?: boolean;
}

/** The x values of a figure's records: none (bars), a fixed list (iterations, memory sizes), or seconds. */
export type FigureX =
  | { readonly kind: 'bars' }
  | { readonly kind: 'values'; readonly values: readonly number[] }
  | { readonly kind: 'seconds' };

export interface FigureRunOptions {
  /** Shrinks memory sizes for quick runs, in (0, 1]; 1 = the paper's (default). */
  scale?: number;
  /** Real engines: this machine's disk as it is, not timed or throttled as the paper's drive. */
  unthrottled?: boolean;
  /**
   * The configurations to run (default: every one of the paper's five the engine can run for the
   * figure; the extra ones, `EXTRA_CONFIG_NAMES`, only when named here).
   */
  configs?: readonly ConfigName[];
  onProgress?: (p: EngineProgress) => void;
  signal?: AbortSignal;
  /** Seeds of every point (engines that repeat runs: the simulator, seeds 1-5 by default). */
  seeds?: readonly number[];
  /** Runs at once (the simulator's worker threads; default one per core). */
  jobs?: number;
  /** A results store folder: finished runs are kept there and reused (the simulator). */
  storeDir?: string;
  /** Compute every run even when the store has it. */
  fresh?: boolean;
  /** A Redis URL: the runs go to BullMQ workers (`vswapper worker`) instead of local threads. */
  queue?: string;
  /**
   * A swap partition of this many MiB in each guest, on its own image (scaled with `scale`): a
   * variant of the figures that accept it (EngineFigure.guestSwap), whose results say so in their
   * metadata and notes. Absent or 0: none, as the paper's setup.
   */
  guestSwapMiB?: number;
  /** Once the runs are there: how many were computed and how many were taken from the store. */
  onRuns?: (c: { computed: number; fromStore: number; damaged: number }) => void;
}

export interface EngineProgress {
  message: string;
  /** How far the figure is, in [0, 1]. */
  fraction: number;
  /** A step ended (logs without a terminal print these lines only). */
  step: boolean;
  /** Seconds left, estimated from the steps done so far (absent until one is done). */
  etaS?: number;
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface Availability {
  /** The engine as a whole (root, QEMU, cgroups, userfaultfd, ...). */
  readonly engine: Verdict;
  /** Every configuration (the paper's and the extra ones), whether the engine knows it or not. */
  readonly configs: Readonly<Record<ConfigName, Verdict>>;
  /** Facts about how it would run here (accelerator: KVM, or TCG because /dev/kvm is PVM). */
  readonly notes: readonly string[];
}

/** A request an engine cannot take (unknown figure or configuration, bad option), found before any work. */
export class EngineInputError extends Error {
  override name = 'EngineInputError';
}

/** The engine, or a configuration asked for, cannot run on this host; the message says why. */
export class EngineUnavailableError extends Error {
  override name = 'EngineUnavailableError';
}

/** The largest guest swap partition a request may ask for: eight times §5.2's 2 GB guest. */
export const GUEST_SWAP_MAX_MIB = 16 * 1024;

/**
 * Checks a request against what the engine declares (figure, configurations, scale, disk mode)
 * and returns the figure and the configurations to run; throws `EngineInputError` naming the problem.
 */
export function checkRequest(
  engine: Engine,
  figure: string,
  o: FigureRunOptions,
): { figure: EngineFigure; configs: ConfigName[]; scale: number } {
  const known = engine.figures.map((f) => f.id);
  const fig = engine.figures.find((f) => f.id === figure);
  if (!fig)
    throw new EngineInputError(
      `unknown figure "${figure}" for the ${engine.name} engine; known: ${known.join(', ')}`,
    );
  const scale = o.scale ?? 1;
  if (!(typeof scale === 'number' && scale > 0 && scale <= 1))
    throw new EngineInputError(`scale must be a number in (0, 1], got ${String(scale)}`);
  if (engine.minScale !== undefined && scale < engine.minScale)
    throw new EngineInputError(
      `scale ${scale} is below the ${engine.name} engine's smallest, ${engine.minScale}: its models do not fit a machine that small`,
    );
  if (o.unthrottled && !engine.unthrottled)
    throw new EngineInputError(
      `the ${engine.name} engine has no unthrottled mode: it always models the paper's drive`,
    );
  const gs = o.guestSwapMiB;
  if (gs !== undefined) {
    if (!(Number.isInteger(gs) && gs >= 0 && gs <= GUEST_SWAP_MAX_MIB))
      throw new EngineInputError(
        `guest swap: a whole number of MiB from 0 to ${GUEST_SWAP_MAX_MIB}, got ${String(gs)}`,
      );
    if (gs > 0 && !fig.guestSwap)
      throw new EngineInputError(
        `${fig.id} on the ${engine.name} engine has no guest-swap variant (it applies to ${
          engine.figures
            .filter((f) => f.guestSwap)
            .map((f) => f.id)
            .join(', ') || 'none of its figures'
        })`,
      );
  }
  for (const c of o.configs ?? []) {
    if (!(CONFIG_NAMES as readonly string[]).includes(c))
      throw new EngineInputError(`unknown configuration "${c}"; known: ${CONFIG_NAMES.join(', ')}`);
    if (!fig.configs.includes(c))
      throw new EngineInputError(`${fig.id} has no ${c} configuration (it has ${fig.configs.join(', ')})`);
    if (!engine.configs.includes(c))
      throw new EngineInputError(
        `the ${engine.name} engine cannot run ${c}: ${engine.cannot[c] ?? 'not implemented'} (it runs ${engine.configs.join(', ')})`,
      );
  }
  if (o.configs && o.configs.length === 0) throw new EngineInputError('no configuration asked for');
  const configs = o.configs
    ? [...new Set(o.configs)]
    : fig.configs.filter((c) => engine.configs.includes(c) && isPaperConfig(c));
  return { figure: fig, configs, scale };
}

/** Throws `EngineUnavailableError` unless the engine and every configuration asked for can run here. */
export function requireAvailable(engine: Engine, a: Availability, configs: readonly ConfigName[]): void {
  if (!a.engine.ok)
    throw new EngineUnavailableError(`the ${engine.name} engine cannot run here: ${a.engine.reason}`);
  for (const c of configs) {
    const v = a.configs[c];
    if (!v.ok)
      throw new EngineUnavailableError(`the ${engine.name} engine cannot run ${c} here: ${v.reason}`);
  }
}

/** Per-configuration verdicts: why the engine cannot run those it does not, its own verdict for the rest. */
export function configVerdicts(
  engine: Pick<Engine, 'configs' | 'cannot'>,
  verdict: Verdict,
): Record<ConfigName, Verdict> {
  const out = {} as Record<ConfigName, Verdict>;
  for (const c of CONFIG_NAMES)
    out[c] = engine.configs.includes(c)
      ? verdict
      : { ok: false, reason: engine.cannot[c] ?? 'not implemented' };
  return out;
}
