import { ConfigError } from '../errors.js';
import { FileReadaround } from './file-readaround.js';
import type { Readahead, ReadaheadContext } from './readahead.js';
import { SwapClusterReadahead } from './swap-cluster.js';
import { SwapVmaReadahead } from './swap-vma.js';

/** Every readahead policy, by the name a configuration gives it: one line each. */
export const SWAP_READAHEAD_POLICIES = {
  cluster: (c: ReadaheadContext): Readahead => new SwapClusterReadahead(c),
  vma: (c: ReadaheadContext): Readahead => new SwapVmaReadahead(c),
} as const;

export const FILE_READAHEAD_POLICIES = {
  readaround: (c: ReadaheadContext): Readahead => new FileReadaround(c),
} as const;

export type SwapReadaheadName = keyof typeof SWAP_READAHEAD_POLICIES;
export type FileReadaheadName = keyof typeof FILE_READAHEAD_POLICIES;

/** The named policy of a kind, built for a core; an unknown name is a ConfigError naming the field. */
export function makeReadahead(
  field: 'swapReadahead' | 'fileReadahead',
  name: string,
  c: ReadaheadContext,
): Readahead {
  const table: Record<string, (c: ReadaheadContext) => Readahead> =
    field === 'swapReadahead' ? SWAP_READAHEAD_POLICIES : FILE_READAHEAD_POLICIES;
  const make = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!make)
    throw new ConfigError(field, `must be one of ${Object.keys(table).join(', ')}, got ${String(name)}`);
  return make(c);
}
