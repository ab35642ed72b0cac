/**
 * The client's modules import each other in one direction: no import cycle in src/, type-only
 * imports included (the features take a narrow `ClientLink`, not the `Tidings` class).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** Relative module specifiers of one source file: imports (type-only too), re-exports, dynamic imports. */
function relativeImports(file: string): string[] {
  // Without comments: TSDoc examples show imports too.
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = (m[1] ?? m[2] ?? m[3])!;
    if (spec.startsWith('.')) found.push(spec);
  }
  return found;
}

/** The import graph of src/: module → the modules it imports (paths relative to src/, `.ts`). */
function importGraph(): Map<string, string[]> {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const deps = relativeImports(join(SRC, file)).map((spec) => relative(SRC, resolve(dirname(join(SRC, file)), spec)).replace(/\.js$/, '.ts'));
    graph.set(file, deps);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the path that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    path.push(node);
    for (const dep of graph.get(node) ?? []) {
      if (state.get(dep) === 'open') found.push([...path.slice(path.indexOf(dep)), dep]);
      else if (!state.has(dep)) visit(dep);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

test('the walk finds a cycle when there is one', () => {
  const graph = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['a.ts']],
  ]);
  expect(cycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
});

test('no import cycle in packages/client/src, type-only imports included', () => {
  const graph = importGraph();
  expect(graph.size).toBeGreaterThan(20);
  // Every relative import resolves to a source file: the walk sees the whole graph.
  for (const [file, deps] of graph) for (const dep of deps) expect(graph.has(dep), `${file} imports ${dep}`).toBe(true);
  expect(cycles(graph).map((c) => c.join(' → '))).toEqual([]);
});

test('the user-level features and the connection do not import the client class', () => {
  const graph = importGraph();
  for (const file of ['notifications.ts', 'activity.ts', 'progress.ts', 'subscription.ts', 'connection/connection.ts', 'connection/opening.ts', 'connection/token.ts', 'connection/upgrade-probe.ts']) {
    expect(graph.get(file), file).not.toContain('client.ts');
  }
});
