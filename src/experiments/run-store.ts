import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SimJob } from './job.js';
import { modelVersion } from './model-version.js';
import type { SimRunResult } from './sim-runner.js';

/**
 * Finished simulation runs on disk, one file per run, named by the run's key: the SHA-256 of
 * everything that decides its result (the job: configuration, sizes, disk, workload, seed, scale;
 * and the model version, see model-version.ts). A run is stored as soon as it finishes, so an
 * interrupted sweep resumes where it stopped and an unchanged rerun reads every run back.
 *
 * A file is written to a temporary name, flushed to the disk (fsync), then renamed over its final
 * name, and the folder is flushed: a crash leaves either the whole entry or none. An entry is
 * trusted only if its header names its key and the SHA-256 of its body matches; anything else (a
 * truncated or edited file) counts as absent and is computed again. A process killed mid-write
 * leaves its temporary file behind; opening the store removes such files once they are older than
 * any write could still be running (`staleTmpMs`), and nothing else.
 */
export class RunStore {
  /** Entries found damaged by `get` since this store was opened (each then computed again). */
  damaged = 0;
  /** Temporary files of writes that never finished, removed when this store was opened. */
  readonly staleTmpRemoved: number;

  constructor(
    readonly dir: string,
    staleTmpMs = STALE_TMP_MS,
  ) {
    mkdirSync(dir, { recursive: true });
    this.staleTmpRemoved = this.removeStaleTmp(Date.now() - staleTmpMs);
  }

  /**
   * Removes this store's own temporary files (put()'s names, in its key folders) last modified
   * before `before` (ms since the epoch). A younger one may belong to a writer still running, in
   * this or another process sharing the folder, and is left alone; so is every other file.
   */
  private removeStaleTmp(before: number): number {
    let removed = 0;
    for (const sub of listDir(this.dir)) {
      if (!KEY_FOLDER.test(sub)) continue;
      for (const f of listDir(join(this.dir, sub))) {
        if (!TMP_NAME.test(f) || !f.startsWith(sub)) continue;
        const path = join(this.dir, sub, f);
        try {
          if (statSync(path).mtimeMs >= before) continue;
          rmSync(path);
          removed++;
        } catch {
          // Gone meanwhile (another process opening the store removed it, or its writer renamed it).
        }
      }
    }
    return removed;
  }

  pathOf(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  get(key: string): SimRunResult | undefined {
    let text: string;
    try {
      text = readFileSync(this.pathOf(key), 'utf8');
    } catch {
      return undefined;
    }
    const nl = text.indexOf('\n');
    try {
      const header = JSON.parse(text.slice(0, nl)) as { format?: unknown; key?: unknown; sha256?: unknown };
      const body = text.slice(nl + 1);
      if (nl < 0 || header.format !== FORMAT || header.key !== key || header.sha256 !== sha256(body))
        throw new Error('damaged');
      return JSON.parse(body) as SimRunResult;
    } catch {
      this.damaged++;
      return undefined;
    }
  }

  put(key: string, result: SimRunResult): void {
    const body = JSON.stringify(result);
    const text = `${JSON.stringify({ format: FORMAT, key, sha256: sha256(body) })}\n${body}`;
    const final = this.pathOf(key);
    mkdirSync(dirname(final), { recursive: true });
    // Unique per writer: two processes storing the same run each write their own file, and
    // either rename leaves a whole entry (both are the same run).
    const tmp = `${final}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(tmp, 'wx');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, final);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
    syncDir(dirname(final));
  }
}

const FORMAT = 1;

/** Folders of entries: the first two hex digits of their keys. */
const KEY_FOLDER = /^[0-9a-f]{2}$/;
/** put()'s temporary names: `<key>.json.<pid>.<8 hex digits>.tmp`. */
const TMP_NAME = /^[0-9a-f]{64}\.json\.\d+\.[0-9a-f]{8}\.tmp$/;
/**
 * Age after which a temporary file is a crashed write's: a put() writes one run's JSON (kilobytes)
 * and flushes it, which takes milliseconds; an hour also covers a disk stalled for minutes, or a
 * store shared over a network with clocks a little apart.
 */
const STALE_TMP_MS = 60 * 60 * 1000;

/** A folder's names, or none when it cannot be read (a stray file where a folder was expected). */
function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Makes a rename durable: the new directory entry is on the disk once its folder is flushed. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** JSON with object keys sorted, so equal jobs built in any key order have one key. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The run's key in the store (and in the queue): SHA-256 of the job and the model version. */
export function runKey(job: SimJob, version = modelVersion()): string {
  return sha256(canonical({ model: version, job }));
}

/** The default store: $VSWAPPER_STORE, else $XDG_CACHE_HOME/vswapper/runs, else ~/.cache/vswapper/runs. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VSWAPPER_STORE) return env.VSWAPPER_STORE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'vswapper', 'runs');
}
