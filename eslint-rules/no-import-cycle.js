import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

/**
 * An ESLint rule: no cycle of imports among the project's own files, type-only imports included
 * (import-x/no-cycle skips those, but a cycle of types still ties the files together: neither can
 * be understood, or moved, without the other). Relative specifiers only; `.js` names the `.ts`
 * source, as NodeNext resolution has it.
 */
const SPECIFIER =
  /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
const cache = new Map();

function resolveSpecifier(fromFile, spec) {
  const base = resolve(dirname(fromFile), spec);
  for (const p of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`]) {
    if (p.endsWith('.ts') && existsSync(p) && statSync(p).isFile()) return p;
  }
  return undefined;
}

/** The project files `file` imports, read from disk (cached by modification time). */
function importsOf(file) {
  const mtimeMs = statSync(file).mtimeMs;
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === mtimeMs) return hit.deps;
  const deps = [];
  for (const m of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
    const target = resolveSpecifier(file, m[1]);
    if (target) deps.push(target);
  }
  cache.set(file, { mtimeMs, deps });
  return deps;
}

/** A path of imports from `start` back to `goal` (breadth first: the shortest), or undefined. */
function pathBack(start, goal) {
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const f = queue.shift();
    if (f === goal) {
      const path = [];
      for (let p = f; p !== null; p = prev.get(p)) path.unshift(p);
      return path;
    }
    for (const d of importsOf(f)) {
      if (prev.has(d)) continue;
      prev.set(d, f);
      queue.push(d);
    }
  }
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'forbid import cycles among project files, type-only imports included' },
    schema: [],
    messages: { cycle: 'import cycle: {{path}}' },
  },
  create(context) {
    const file = context.filename;
    const root = context.cwd;
    const check = (node) => {
      const spec = node.source?.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = resolveSpecifier(file, spec);
      if (!target || !existsSync(file)) return;
      const back = pathBack(target, file);
      if (back) {
        const path = [file, ...back].map((p) => relative(root, p)).join(' -> ');
        context.report({ node, messageId: 'cycle', data: { path } });
      }
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
