/**
 * House rule: never reach into a library's private fields. No source file of
 * packages/server/src (tests left out) reads the private fields we once used: ws's
 * `_sender` and `_socket`, Node's `socket._httpMessage`, as `x._name` or `x['_name']`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

const PRIVATE = /(?:\.\s*|\[\s*['"`])_(sender|socket|httpMessage)\b/g;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

describe('library private fields', () => {
  it('no source file reads ._sender, ._socket or ._httpMessage', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(20);
    const hits: string[] = [];
    for (const file of files) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          for (const m of line.matchAll(PRIVATE)) hits.push(`${relative(SRC, file).split(sep).join('/')}:${i + 1}: _${m[1]}`);
        });
    }
    expect(hits).toEqual([]);
  });
});
