import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One change a run made to the host, described as data (not a closure) so that it can be written to
 * a journal and undone by a later process if this one dies before it can undo it (SIGKILL, power).
 */
export type UndoStep =
  /** A swap area we enabled. */
  | { kind: 'swapoff'; path: string }
  /** A file we created. */
  | { kind: 'rm'; path: string }
  /** A cgroup folder we created: its tasks (ours) are killed first, then it is removed. */
  | { kind: 'rmdir-cgroup'; path: string }
  /** A loop device we attached to `file`. */
  | { kind: 'losetup-detach'; dev: string; file: string }
  /** A process we started; `startTicks` (field 22 of /proc/PID/stat) tells it from a reused pid. */
  | { kind: 'kill'; pid: number; startTicks: number }
  /** A host setting we overwrote, and its old value. */
  | { kind: 'write'; path: string; value: string };

export function describeStep(s: UndoStep): string {
  switch (s.kind) {
    case 'swapoff':
      return `swapoff ${s.path}`;
    case 'rm':
      return `rm ${s.path}`;
    case 'rmdir-cgroup':
      return `rmdir cgroup ${s.path}`;
    case 'losetup-detach':
      return `losetup -d ${s.dev} (${s.file})`;
    case 'kill':
      return `kill ${s.pid}`;
    case 'write':
      return `restore ${s.path}`;
  }
}

/** Runs a host command, returning its stdout; throws with its stderr on failure. */
export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Field 22 of /proc/PID/stat (start time in clock ticks), or undefined if there is no such process
 * or it has died (a zombie waiting for its parent to reap it).
 */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

function waitGone(pid: number, startTicks: number, ms: number): boolean {
  for (let t = 0; t < ms; t += 20) {
    if (processStartTicks(pid) !== startTicks) return true;
    sleepMs(20);
  }
  return processStartTicks(pid) !== startTicks;
}

/** Undoes one step; idempotent (undoing what is already undone is fine). Throws when it cannot. */
export function undoStep(s: UndoStep): void {
  switch (s.kind) {
    case 'swapoff': {
      const active = readFileSync('/proc/swaps', 'utf8')
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]);
      if (active.includes(s.path)) sh('swapoff', [s.path]);
      return;
    }
    case 'rm':
      rmSync(s.path, { force: true });
      return;
    case 'rmdir-cgroup': {
      if (!existsSync(s.path)) return;
      for (let i = 0; i < 100; i++) {
        let pids: number[] = [];
        try {
          pids = readFileSync(join(s.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
        } catch {
          // gone meanwhile
        }
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        try {
          rmdirSync(s.path);
          return;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          sleepMs(50);
        }
      }
      rmdirSync(s.path);
      return;
    }
    case 'losetup-detach': {
      // Only if the device still holds our file (the number may have been reused).
      let back = '';
      try {
        back = readFileSync(`/sys/block/${s.dev.replace('/dev/', '')}/loop/backing_file`, 'utf8').trim();
      } catch {
        return;
      }
      if (back.replace(/ \(deleted\)$/, '') !== s.file) return;
      for (let i = 0; ; i++) {
        try {
          sh('losetup', ['-d', s.dev]);
          break;
        } catch (e) {
          if (i >= 20) throw e;
          sleepMs(100);
        }
      }
      // Detach is asynchronous when the device is still open (autoclear): wait for it.
      for (
        let i = 0;
        i < 100 && existsSync(`/sys/block/${s.dev.replace('/dev/', '')}/loop/backing_file`);
        i++
      )
        sleepMs(50);
      return;
    }
    case 'kill': {
      if (processStartTicks(s.pid) !== s.startTicks) return;
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        return;
      }
      if (!waitGone(s.pid, s.startTicks, 10_000)) throw new Error(`process ${s.pid} did not die`);
      return;
    }
    case 'write':
      writeFileSync(s.path, s.value);
      return;
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Everything a run changes on the host, as a stack of undo steps (a ledger). `undoAll` undoes them
 * newest first and keeps going past failures (returning them), so the host ends as it was found.
 * While changes are pending, SIGINT/SIGTERM/SIGHUP and process exit undo them too (a signal is then
 * re-raised, so the process still ends the way it would have). With a `journalDir`, the ledger is
 * also kept in a file, so that `recoverStaleJournals` can undo the changes of a process that was
 * killed outright.
 */
export class HostChanges {
  private readonly steps: UndoStep[] = [];
  private readonly journal: string | undefined;
  private listening = false;
  private readonly handleSignals: boolean;
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.undoAll();
    // Re-raise: with no other listener the process ends by this signal, as it would have.
    process.kill(process.pid, sig);
  };
  private readonly onExit = (): void => {
    this.undoAll();
  };

  /**
   * `handleSignals: false`: the owner stops gracefully on signals itself and undoes the ledger
   * after (`vswapper vm` quits QEMU through QMP first); process exit still undoes it.
   */
  constructor(opts: { journalDir?: string; handleSignals?: boolean } = {}) {
    this.handleSignals = opts.handleSignals ?? true;
    this.journal = opts.journalDir
      ? join(opts.journalDir, `host-changes-${process.pid}-${Date.now()}.json`)
      : undefined;
  }

  /** Records a change that has just been made, with how to undo it. */
  did(step: UndoStep): void {
    this.steps.push(step);
    this.save();
    if (!this.listening) {
      this.listening = true;
      if (this.handleSignals) for (const s of SIGNALS) process.on(s, this.onSignal);
      process.on('exit', this.onExit);
    }
  }

  /** Records a change, then makes it: the undo is on the stack before the change can half-happen. */
  doing<T>(step: UndoStep, change: () => T): T {
    this.did(step);
    return change();
  }

  get pending(): string[] {
    return this.steps.map(describeStep);
  }

  get journalPath(): string | undefined {
    return this.journal;
  }

  private save(): void {
    if (!this.journal) return;
    if (this.steps.length === 0) {
      rmSync(this.journal, { force: true });
      return;
    }
    const start = processStartTicks(process.pid) ?? 0;
    const tmp = `${this.journal}.tmp`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, startTicks: start, steps: this.steps }));
    renameSync(tmp, this.journal);
  }

  /** Undoes everything, newest first; returns what could not be undone (also written to stderr). */
  undoAll(): string[] {
    const failed: string[] = [];
    while (this.steps.length > 0) {
      const s = this.steps[this.steps.length - 1]!;
      try {
        undoStep(s);
      } catch (e) {
        failed.push(`${describeStep(s)}: ${(e as Error).message.trim()}`);
      }
      this.steps.pop();
      this.save();
    }
    if (this.listening) {
      this.listening = false;
      for (const s of SIGNALS) process.off(s, this.onSignal);
      process.off('exit', this.onExit);
    }
    for (const f of failed) process.stderr.write(`vswapper: could not undo ${f}\n`);
    return failed;
  }
}

/**
 * Undoes the journals in `dir` left by processes that are gone (killed before they could clean up).
 * Returns what it undid.
 */
export function recoverStaleJournals(dir: string): string[] {
  const done: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /^host-changes-\d+-\d+\.json$/.test(n));
  } catch {
    return done;
  }
  for (const n of names) {
    const path = join(dir, n);
    let j: { pid: number; startTicks: number; steps: UndoStep[] };
    try {
      j = JSON.parse(readFileSync(path, 'utf8')) as typeof j;
    } catch {
      continue;
    }
    if (processStartTicks(j.pid) === j.startTicks) continue; // its owner is alive
    for (const s of [...j.steps].reverse()) {
      try {
        undoStep(s);
        done.push(describeStep(s));
      } catch (e) {
        process.stderr.write(`vswapper: could not undo ${describeStep(s)}: ${(e as Error).message}\n`);
      }
    }
    rmSync(path, { force: true });
  }
  return done;
}
