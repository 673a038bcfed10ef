import { closeSync, mkdirSync, openSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** An output or store folder that cannot be used; the message names the flag, the path and why. */
export class OutputFolderError extends Error {
  override name = 'OutputFolderError';
}

// statfs(2) magic numbers of Linux's pseudo file systems (linux/magic.h): nothing written there is
// a file, and Node's recursive mkdir loops forever on /proc (ENOENT at every level).
const PSEUDO_FS: Record<number, string> = { 0x9fa0: 'proc', 0x62656572: 'sysfs', 0x1cd1: 'devpts' };

const codeOf = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? String(e);

/**
 * Makes sure `path` is a folder this process can write, creating it (and its missing parents) if
 * needed, before any long work starts. Throws OutputFolderError naming the problem.
 */
export function prepareFolder(flag: string, path: string): string {
  const abs = resolve(path);
  const bad = (why: string): OutputFolderError => new OutputFolderError(`${flag} ${path}: ${why}`);
  const missing: string[] = [];
  let existing = abs;
  for (;;) {
    try {
      const st = statSync(existing);
      if (!st.isDirectory())
        throw bad(existing === abs ? 'exists and is not a folder' : `${existing} is not a folder`);
      break;
    } catch (e) {
      if (e instanceof OutputFolderError) throw e;
      if (codeOf(e) !== 'ENOENT' && codeOf(e) !== 'ENOTDIR')
        throw bad(`cannot look at ${existing} (${codeOf(e)})`);
      missing.unshift(existing);
      if (dirname(existing) === existing) throw bad('no part of it exists');
      existing = dirname(existing);
    }
  }
  const fsName = PSEUDO_FS[statfsSync(existing).type];
  if (fsName) throw bad(`${existing} is on the ${fsName} pseudo file system, not a place for files`);
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (e) {
      throw bad(`cannot create ${dir} (${codeOf(e)})`);
    }
  }
  // Root passes every permission check, a read-only mount does not: try a real write.
  const probe = join(abs, `.vswapper-write-test-${process.pid}`);
  try {
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, 'ok');
    } finally {
      closeSync(fd);
    }
    rmSync(probe);
  } catch (e) {
    throw bad(`cannot write there (${codeOf(e)})`);
  }
  return abs;
}
