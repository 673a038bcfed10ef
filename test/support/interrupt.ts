import { spawn } from 'node:child_process';
import { lockBusyLine } from './engine-lock.js';

/**
 * Runs `call` (a module import and one awaited engine call, as ES module source that reports progress
 * lines on stdout) in a child node process, and sends it SIGINT once it prints "iteration 1/8":
 * interrupted in the middle of the workload. `snapshot` is taken just before the signal. A child that
 * gave up because another run held the host's lock makes this throw that error (see `onIdleEngine`).
 */
export function interruptAtFirstIteration<S>(
  call: string,
  snapshot: () => S,
): Promise<{ sent: boolean; during: S | undefined; out: string; signalCode: NodeJS.Signals | null }> {
  return interruptWhen(/iteration 1\/8/, call, snapshot);
}

/** As interruptAtFirstIteration, with SIGINT sent once the child's output matches `at`. */
export async function interruptWhen<S>(
  at: RegExp,
  call: string,
  snapshot: () => S,
): Promise<{ sent: boolean; during: S | undefined; out: string; signalCode: NodeJS.Signals | null }> {
  const script = `${call}\nprocess.stdout.write('finished\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    process.stderr.write(d);
  });
  let sent = false;
  let during: S | undefined;
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!sent && at.test(out)) {
      sent = true;
      during = snapshot();
      child.kill('SIGINT');
    }
  });
  await exited;
  const busy = lockBusyLine(err);
  if (!sent && busy !== undefined) throw new Error(busy);
  return { sent, during, out, signalCode: child.signalCode };
}
