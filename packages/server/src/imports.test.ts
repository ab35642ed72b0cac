/**
 * The import graph of packages/server/src (source files, tests left out) keeps the shape
 * docs/architecture.md describes: no import cycles (type-only imports count: a cycle of
 * types is a cycle of knowledge), the composition root imported only by the entry points,
 * api/ independent of transport/, and wire/ a floor.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

/** Relative `import ... from`, `import type ... from`, `export ... from` and side-effect imports. */
const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** File (relative to src, with `/`) → the files of src it imports. */
function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file).split(sep).join('/');
    const targets = new Set<string>();
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      targets.add(posix.normalize(posix.join(posix.dirname(from), m[1]!.replace(/\.js$/, '.ts'))));
    }
    graph.set(from, targets);
  }
  return graph;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.has(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('server imports', () => {
  const graph = importGraph();

  it('reads the graph (the walk finds the composition root and what it wires)', () => {
    expect(graph.get('node.ts')).toContain('api/inspector.ts');
    expect(graph.get('front-door.ts')).toContain('api/server-api.ts');
    expect(graph.get('api/server-api.ts')).toContain('cluster/publisher.ts');
  });

  it('has no import cycle', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('node.ts, the composition root, is imported only by the entry points', () => {
    const importers = [...graph].filter(([, targets]) => targets.has('node.ts')).map(([file]) => file);
    expect(importers.filter((f) => f !== 'index.ts' && !/^cli(-[a-z-]+)?\.ts$/.test(f) && !f.startsWith('test-support/'))).toEqual([]);
  });

  it('api/ imports nothing from transport/ (the HTTP helpers both use are in wire/)', () => {
    const crossing = [...graph].filter(([file]) => file.startsWith('api/')).flatMap(([file, targets]) => [...targets].filter((t) => t.startsWith('transport/')).map((t) => `${file} -> ${t}`));
    expect(crossing).toEqual([]);
  });

  it('wire/ is a floor: it imports only wire/, errors.ts and the origin rules CORS answers by', () => {
    const allowed = (t: string) => t.startsWith('wire/') || t === 'errors.ts' || t === 'auth/origin.ts';
    const up = [...graph].filter(([file]) => file.startsWith('wire/')).flatMap(([file, targets]) => [...targets].filter((t) => !allowed(t)).map((t) => `${file} -> ${t}`));
    expect(up).toEqual([]);
  });
});
