/** The core was driven against its contract (a driver bug or an impossible configuration). */
export class CoreError extends Error {
  override name = 'CoreError';
}

/** A configuration value is out of its domain; the message names the field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}
