import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineName, FigureResult } from '../engine/results.js';

const ENGINE_NAMES: readonly EngineName[] = ['sim', 'qemu', 'qemu-pager'];

/**
 * `<figure>.json` for the simulator, or for the only engine of a figure; `<figure>.<engine>.json`
 * for the others, so a qemu run beside a sim run never overwrites it.
 */
export function resultFileName(
  figure: string,
  engine: EngineName,
  enginesOfFigure: readonly EngineName[],
): string {
  return engine === 'sim' || new Set(enginesOfFigure).size <= 1
    ? `${figure}.json`
    : `${figure}.${engine}.json`;
}

/** Shape check for JSON read back from disk: enough that the report cannot crash on it. */
export function isFigureResult(v: unknown): v is FigureResult {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.figure === 'string' &&
    r.figure !== '' &&
    ENGINE_NAMES.includes(r.engine as EngineName) &&
    typeof r.meta === 'object' &&
    r.meta !== null &&
    Array.isArray(r.runs) &&
    r.runs.every(
      (run: unknown) =>
        typeof run === 'object' &&
        run !== null &&
        typeof (run as Record<string, unknown>).config === 'string' &&
        typeof (run as Record<string, unknown>).metrics === 'object' &&
        (run as Record<string, unknown>).metrics !== null,
    )
  );
}

export interface StoredResult {
  file: string;
  result: FigureResult;
  modifiedMs: number;
}

/**
 * Results an earlier run left in `dir` (any engine, any figure), newest first. Only files named as
 * we name them (`<figure>.json`, `<figure>.<engine>.json`, matching their content) count; any other
 * JSON is someone else's and is neither read nor touched.
 */
export async function readStoredResults(dir: string): Promise<StoredResult[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  const out: StoredResult[] = [];
  for (const file of names) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(join(dir, file), 'utf8'));
    } catch {
      continue;
    }
    if (!isFigureResult(parsed)) continue;
    if (file !== `${parsed.figure}.json` && file !== `${parsed.figure}.${parsed.engine}.json`) continue;
    out.push({ file, result: parsed, modifiedMs: (await stat(join(dir, file))).mtimeMs });
  }
  // Newest first: if a file was left under an old name, the most recent copy of a result wins.
  return out.sort((a, b) => b.modifiedMs - a.modifiedMs || a.file.localeCompare(b.file));
}
