/**
 * No networking logic lives in @tidings/react: its sources import nothing but React, the
 * client and each other, and its package depends on nothing else.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/** Module specifiers of one source file: static imports, re-exports, dynamic imports and require(). */
function specifiers(file: string): string[] {
  // Without comments: TSDoc examples show imports too.
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  }
  return found;
}

test('the sources import only react, @tidings/client and their own modules', () => {
  const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f));
  expect(files.length).toBeGreaterThan(10);
  const outside = new Map<string, string[]>();
  for (const file of files) {
    for (const spec of specifiers(join(SRC, file))) {
      if (spec.startsWith('./') || spec.startsWith('../')) continue;
      outside.set(spec, [...(outside.get(spec) ?? []), file]);
    }
  }
  expect([...outside.keys()].sort()).toEqual(['@tidings/client', 'react']);
  // No global networking either: every request goes through the client.
  for (const file of files) expect(readFileSync(join(SRC, file), 'utf8'), file).not.toMatch(/\b(fetch|WebSocket|EventSource|XMLHttpRequest)\s*\(/);
});

test('package.json depends on @tidings/client only, with react as a peer', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  expect(Object.keys(pkg.dependencies ?? {})).toEqual(['@tidings/client']);
  expect(Object.keys(pkg.peerDependencies ?? {})).toEqual(['react']);
});
