/**
 * What the core throws. Each failure kind is a class of its own, named for what went wrong, whose
 * message says which page, slot or I/O it concerns; all derive from CoreError so a caller can tell
 * the core's refusals from its own bugs. Two families:
 * - the driver drove the core against its contract (ConfigError, UnknownIoError, UnbalancedPinError,
 *   BalloonPinnedError, ChunkRangeError, StalledError): the driver, or the input it passed on, is wrong;
 * - the core's own records contradict each other (the others): a bug in the core, never the driver's.
 */
export abstract class CoreError extends Error {}

/** A configuration value is out of its domain; the message names the field. */
export class ConfigError extends CoreError {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** The driver reported the end of an I/O the core has not asked for (or reported it twice). */
export class UnknownIoError extends CoreError {
  override name = 'UnknownIoError';
  constructor(
    readonly op: 'read' | 'write',
    readonly id: number,
  ) {
    super(`${op}Done: no ${op} ${id} in flight`);
  }
}

/** A device access ended on a page that was not under device access (begin and end unbalanced). */
export class UnbalancedPinError extends CoreError {
  override name = 'UnbalancedPinError';
  constructor(readonly page: number) {
    super(`page ${page} was not under device access`);
  }
}

/** The guest's balloon gave the host a page that a device is still reading or writing. */
export class BalloonPinnedError extends CoreError {
  override name = 'BalloonPinnedError';
  constructor(readonly page: number) {
    super(`balloonInflate: gfn ${page} is under device access`);
  }
}

/** A chunk range outside a page: the caller (a driver, or a guest's descriptor) is wrong. */
export class ChunkRangeError extends CoreError {
  override name = 'ChunkRangeError';
  constructor(first: number, chunks: number, perPage: number) {
    super(`chunk range ${first}+${chunks} is outside a page (0..${perPage})`);
  }
}

/**
 * Faults wait for a frame while nothing in flight could free one: the resident limit is smaller
 * than what devices keep pinned.
 */
export class StalledError extends CoreError {
  override name = 'StalledError';
  constructor(waiting: number, resident: number, limit: number) {
    super(
      `stalled: ${waiting} fault(s) wait for a frame, ${resident} of ${limit} pages resident, nothing in flight`,
    );
  }
}

/** A page's state byte holds no known state. */
export class UnknownStateError extends CoreError {
  override name = 'UnknownStateError';
  constructor(page: number, state: number) {
    super(`fault on page ${page} in unknown state ${state}`);
  }
}

/** A swapped page's slot is recorded as another page's. */
export class SlotOwnerError extends CoreError {
  override name = 'SlotOwnerError';
  constructor(page: number, slot: number) {
    super(`page ${page}'s slot ${slot} is not its own`);
  }
}

/** A page whose content is in the image (or must be merged with it) names no image block. */
export class MissingBlockError extends CoreError {
  override name = 'MissingBlockError';
  constructor(page: number, what: string) {
    super(`page ${page} ${what}`);
  }
}

/** A readahead policy returned a window without the page that faulted. */
export class ReadaheadWindowError extends CoreError {
  override name = 'ReadaheadWindowError';
  constructor(page: number, policy: string) {
    super(`page ${page} is not in its own read-around window (policy ${policy})`);
  }
}

/** The swap slot allocator was asked something impossible: a bad size, or a slot freed twice. */
export class SwapSlotError extends CoreError {
  override name = 'SwapSlotError';
}
