import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CONFIG_NAMES, METRIC_NAMES } from '../engine/results.js';
import { packageRoot } from './paper-targets.js';

/** data/claims.json is malformed; the message names the path and the entry. */
export class ClaimsFileError extends Error {
  override name = 'ClaimsFileError';
}

const config = z.enum(CONFIG_NAMES);
const x = z.number().nullable();

/** What of our results a claim compares: one configuration's value, or a ratio of two. */
const compare = z.union([
  z.strictObject({ value: config }),
  z.strictObject({ ratio: z.tuple([config, config]) }),
  /** The same configuration at two x: `[config, xNumerator, xDenominator]`. */
  z.strictObject({ acrossX: z.tuple([config, z.number(), z.number()]) }),
  /** The smallest x at which the configuration was not killed (the paper's series ends there). */
  z.strictObject({ lowestUnkilled: config }),
]);

/** The paper's value: a number, a range it gives ("1.03-1.08x"), or a bound ("more than 2x"). */
const paperValue = z.union([
  z.number(),
  z.tuple([z.number(), z.number()]),
  z.strictObject({ atLeast: z.number() }),
  z.strictObject({ atMost: z.number() }),
]);

/** relPct: ours within this many percent of the paper's value (or range); band: ours inside [lo, hi]. */
const tolerance = z.union([
  z.strictObject({ relPct: z.number().min(0) }),
  z.strictObject({ band: z.tuple([z.number(), z.number()]) }),
]);

const checked = z.strictObject({
  id: z.string(),
  paperClaim: z.string(),
  section: z.string(),
  text: z.string(),
  figures: z.array(z.string()).min(1),
  metric: z.enum(METRIC_NAMES),
  compare,
  /** each: one x (or bars); max/min: the extreme over x; range: [min, max] over x. */
  aggregate: z.enum(['each', 'max', 'min', 'range']),
  /** Only these x (default: every x both sides ran). */
  at: z.array(x).optional(),
  paper: paperValue,
  tolerance,
  source: z.string(),
  notes: z.string().optional(),
  /** One line: the mechanism behind the miss, shown when the claim fails. */
  whyFails: z.string().optional(),
});

const unchecked = z.strictObject({
  id: z.string(),
  paperClaim: z.string(),
  section: z.string(),
  text: z.string(),
  notChecked: z.string(),
});

const extraTime = z.strictObject({
  figure: z.string(),
  panel: z.string(),
  referenceX: z.number(),
  source: z.string(),
});

const claimsFile = z.strictObject({
  about: z.string(),
  pointTolerancePct: z.number().positive(),
  extraTime: z.array(extraTime),
  /** Each entry is checked by its own schema (below) so an error names the field, not "invalid union". */
  claims: z.array(z.record(z.string(), z.unknown())),
});

export type CheckedClaim = z.infer<typeof checked>;
export type UncheckedClaim = z.infer<typeof unchecked>;
export type ClaimSpec = CheckedClaim | UncheckedClaim;
export type ExtraTimeSpec = z.infer<typeof extraTime>;
export type ClaimsFile = Omit<z.infer<typeof claimsFile>, 'claims'> & { claims: ClaimSpec[] };
export type PaperClaimValue = z.infer<typeof paperValue>;
export type ClaimTolerance = z.infer<typeof tolerance>;

export const isChecked = (c: ClaimSpec): c is CheckedClaim => !('notChecked' in c);

/** The package's data/claims.json. */
export function defaultClaimsPath(root = packageRoot()): string | undefined {
  const p = root === undefined ? undefined : join(root, 'data', 'claims.json');
  return p !== undefined && existsSync(p) ? p : undefined;
}

export function loadClaims(path: string): ClaimsFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ClaimsFileError(`${path}: cannot read claims: ${(e as Error).message}`);
  }
  const parsed = claimsFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ClaimsFileError(`${path}: ${issue.path.join('.')}: ${issue.message}`);
  }
  const claims: ClaimSpec[] = parsed.data.claims.map((entry, i) => {
    const one = ('notChecked' in entry ? unchecked : checked).safeParse(entry);
    if (one.success) return one.data;
    const issue = one.error.issues[0]!;
    const id = typeof entry.id === 'string' ? ` (${entry.id})` : '';
    throw new ClaimsFileError(`${path}: claims.${i}.${issue.path.join('.')}${id}: ${issue.message}`);
  });
  const ids = new Set<string>();
  for (const c of claims) {
    if (ids.has(c.id)) throw new ClaimsFileError(`${path}: claim id "${c.id}" appears twice`);
    ids.add(c.id);
  }
  return { ...parsed.data, claims };
}
