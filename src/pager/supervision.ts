/**
 * What the process that started the pager daemon and QEMU (the supervisor: `runPagerConfig`, the
 * crash trials) makes of QEMU's end when the daemon died first. The contract (README, "When the
 * daemon dies"): the shim preloaded into QEMU keeps its own copy of the userfaultfd, so no page the
 * daemon held can be read as zeros, and stops QEMU as soon as its connection to the daemon hangs up,
 * with this exit code and message (src/pager/shim/uffd-shim.c).
 */

/** QEMU's exit code when the shim stopped it: EX_UNAVAILABLE of sysexits.h (the service is gone). */
export const SHIM_DAEMON_DIED_EXIT = 69;

/** The line the shim writes to QEMU's stderr then (the C source has the same text). */
export const SHIM_DAEMON_DIED_MESSAGE =
  'vswapper: the pager daemon died; stopping the VM so the guest cannot read a page it does not have';

/** The line when the daemon stopped sending heartbeats: alive, but its loop no longer turns. */
export const SHIM_DAEMON_HUNG_MESSAGE =
  'vswapper: the pager daemon stopped answering (no heartbeat within the watchdog timeout); stopping the VM so the guest does not wait for its pages forever';

/**
 * The watchdog on a hung daemon: the shim stops QEMU when no heartbeat came for this long.
 * Linux's soft-lockup threshold, 2 x watchdog_thresh (10 s by default) = 20 s
 * (kernel/watchdog.c, get_softlockup_thresh): what the kernel itself takes to mean that a CPU which
 * has not scheduled is stuck, not merely busy.
 */
export const WATCHDOG_TIMEOUT_MS = 20_000;

/**
 * Heartbeats per timeout: Linux's watchdog samples five times a threshold (kernel/watchdog.c,
 * set_sample_period: get_softlockup_thresh() * (NSEC_PER_SEC / 5)), so that a few late beats of a
 * busy but live daemon never make the timeout.
 */
export const HEARTBEATS_PER_TIMEOUT = 5;

/** Whether QEMU's end (its exit description, "exit code 69", and its stderr) is the shim's stop. */
export function stoppedByShim(exit: string, stderr: string): boolean {
  return (
    exit === `exit code ${SHIM_DAEMON_DIED_EXIT}` &&
    (stderr.includes(SHIM_DAEMON_DIED_MESSAGE) || stderr.includes(SHIM_DAEMON_HUNG_MESSAGE))
  );
}

/**
 * The supervisor's report of a run QEMU ended early, given what it knows of the daemon: a dead
 * daemon is named first, with what the guest lost (its memory, a power cut) and kept (every write
 * its disk acknowledged).
 */
export function explainEarlyEnd(
  qemuEnd: string,
  daemon: { alive: boolean; stderr: string } | undefined,
): string {
  if (qemuEnd.includes(SHIM_DAEMON_HUNG_MESSAGE))
    return `the pager daemon hung (no heartbeat within the watchdog timeout); the shim in QEMU stopped the guest (a power cut: its memory is lost, every disk write it was told had completed is on the image): ${qemuEnd}`;
  if (!daemon || daemon.alive) return `QEMU ended before the run did: ${qemuEnd}`;
  const last = daemon.stderr.trim().split('\n').slice(-3).join(' | ');
  const shim = qemuEnd.includes(SHIM_DAEMON_DIED_MESSAGE)
    ? 'the shim in QEMU stopped the guest (a power cut: its memory is lost, every disk write it was told had completed is on the image)'
    : 'QEMU ended without the shim saying so';
  return `the pager daemon died${last ? ` (${last})` : ''}; ${shim}: ${qemuEnd}`;
}
