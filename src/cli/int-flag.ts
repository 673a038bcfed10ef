import { InvalidArgumentError } from 'commander';

/** A whole-number flag within [min, max]: commander's parser, so a bad value stops before any work. */
export const intFlag =
  (flag: string, min: number, max: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!(v.trim() !== '' && Number.isSafeInteger(n) && n >= min && n <= max))
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got "${v}"`);
    return n;
  };
