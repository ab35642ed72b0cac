/**
 * The import graph of packages/server/src (source files, tests left out) keeps the shape
 * docs/architecture.md describes: no import cycles (type-only imports count: a cycle of
 * types is a cycle of knowledge), the composition root imported only by the entry points,
 * api/ independent of transport/, wire/ a floor, and cluster/ the only caller of the engine.
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

/** An import clause: `type` keyword, what it names, and the file (relative specifier). */
const CLAUSE = /^\s*(import|export)\s+(type\s+)?([^'";]*?)\s+from\s+['"](\.{1,2}\/[^'"]+)['"]/gm;

interface EngineImport {
  file: string;
  target: string;
  /** Names imported for their value (classes, functions, constants), not as types. */
  values: string[];
  /** Every name imported. */
  names: string[];
}

/** Imports of engine/ files from files outside engine/. */
function engineImports(): EngineImport[] {
  const out: EngineImport[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file).split(sep).join('/');
    if (from.startsWith('engine/')) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(CLAUSE)) {
      const target = posix.normalize(posix.join(posix.dirname(from), m[4]!.replace(/\.js$/, '.ts')));
      if (!target.startsWith('engine/')) continue;
      const typeOnly = m[2] !== undefined;
      const specifiers = m[3]!.replace(/[{}]/g, '').split(',').map((x) => x.trim()).filter(Boolean);
      const names = specifiers.map((x) => x.replace(/^type\s+/, '').split(/\s+as\s+/)[0]!);
      const values = typeOnly ? [] : specifiers.filter((x) => !x.startsWith('type ')).map((x) => x.split(/\s+as\s+/)[0]!);
      out.push({ file: from, target, values, names });
    }
  }
  return out;
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
    expect(graph.get('api/api-parts.ts')).toContain('cluster/publisher.ts');
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

  describe('cluster/ is the only caller of the engine', () => {
    const imports = engineImports();

    it('reads the engine imports (cluster/channels.ts is the broker handler)', () => {
      expect(imports.find((i) => i.file === 'cluster/channels.ts' && i.target === 'engine/broker.ts')?.names).toContain('BrokerHandler');
    });

    it('only cluster/, the entry point index.ts and test-support/ import runtime code from engine/ (two named exceptions)', () => {
      const exceptions = new Set([
        // features/publish-data.ts: HistoryBudgetError, the error the engine throws when a history budget refuses a publication.
        'features/publish-data.ts -> engine/broker.ts: HistoryBudgetError',
        // ops/engine-metrics.ts: the label values the engine's observer reports (data, no engine part), so metrics pre-create every series.
        'ops/engine-metrics.ts -> engine/engine-observer.ts: ENGINE_ERROR_KINDS, ENGINE_OPS',
      ]);
      // workers/host.ts: the primary of `tidings serve --workers` holds the shared memory engine and serves it to the workers over IPC.
      const allowed = (file: string) => file.startsWith('cluster/') || file === 'index.ts' || file.startsWith('test-support/') || file === 'workers/host.ts';
      const found = imports.filter((i) => i.values.length > 0 && !allowed(i.file)).map((i) => `${i.file} -> ${i.target}: ${i.values.join(', ')}`);
      expect(found.filter((f) => !exceptions.has(f))).toEqual([]);
    });

    it('hub/ imports nothing from engine/, not even types', () => {
      expect(imports.filter((i) => i.file.startsWith('hub/')).map((i) => i.file)).toEqual([]);
    });

    it('no file of session/, api/, ops/, hub/ or features/ names an engine interface', () => {
      // The features ask for the narrow parts they declare (a PresenceState, a ProgressStateStore,
      // a publishControl), and node.ts hands them the cluster/ parts that fit.
      const interfaces = new Set(['Engine', 'Broker', 'PresenceManager', 'UserStatusStore', 'TypingStore', 'IdempotencyStore', 'ProgressStore', 'NodeBus', 'SharedLimits']);
      const naming = imports.filter((i) => i.names.some((n) => interfaces.has(n)));
      const outside = (file: string) => ['session/', 'api/', 'ops/', 'hub/', 'features/'].some((folder) => file.startsWith(folder));
      expect(naming.filter((i) => outside(i.file)).map((i) => i.file)).toEqual([]);
    });
  });
});
