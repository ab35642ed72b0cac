/**
 * scripts/build-if-changed.mjs (what `npm start` builds with): a step runs when its
 * inputs changed since it last succeeded or its output is missing, and is skipped
 * otherwise. Real files in a temp dir, real child processes as the steps.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildIfChanged, STEPS } from '../scripts/build-if-changed.mjs';

let root: string;

/** A step that appends a line to runs.log and writes its output file (or fails when the file `fail` exists). */
function step(name: string, inputs: string[], extra: Record<string, unknown> = {}) {
  const script = `const fs=require('fs');if(fs.existsSync('fail'))process.exit(3);fs.appendFileSync('runs.log','${name}\\n');fs.mkdirSync('out',{recursive:true});fs.writeFileSync('out/${name}','built')`;
  return { name, inputs, output: `out/${name}`, command: ['node', '-e', script], ...extra };
}

function runs(): string[] {
  try {
    return readFileSync(join(root, 'runs.log'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function build(steps: object[], all = false): string[] {
  return buildIfChanged({ root, steps, all, log: () => {} });
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tidings-build-'));
  mkdirSync(join(root, 'src/nested'), { recursive: true });
  writeFileSync(join(root, 'src/a.ts'), 'a');
  writeFileSync(join(root, 'src/nested/b.ts'), 'b');
  writeFileSync(join(root, 'config.json'), '{}');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('build-if-changed', () => {
  it('builds once, then skips while nothing changed', () => {
    const steps = [step('app', ['src', 'config.json'])];
    expect(build(steps)).toEqual(['app']);
    expect(build(steps)).toEqual([]);
    expect(build(steps)).toEqual([]);
    expect(runs()).toEqual(['app']);
  });

  it('rebuilds after an edit, a new file, a deleted file, or a missing output', () => {
    const steps = [step('app', ['src', 'config.json'])];
    build(steps);
    // An edit that keeps the size: only the mtime tells.
    const later = new Date(Date.now() + 5_000);
    writeFileSync(join(root, 'src/nested/b.ts'), 'c');
    utimesSync(join(root, 'src/nested/b.ts'), later, later);
    expect(build(steps)).toEqual(['app']);
    writeFileSync(join(root, 'src/new.ts'), 'n');
    expect(build(steps)).toEqual(['app']);
    rmSync(join(root, 'src/a.ts'));
    expect(build(steps)).toEqual(['app']);
    rmSync(join(root, 'out/app'));
    expect(build(steps)).toEqual(['app']);
    expect(build(steps)).toEqual([]);
    expect(runs()).toHaveLength(5);
  });

  it('rebuilds only the steps whose inputs changed, and the steps that follow a rebuilt one', () => {
    writeFileSync(join(root, 'other.txt'), 'o');
    const steps = [step('one', ['src']), step('two', ['other.txt']), step('copy', [], { after: ['two'] })];
    expect(build(steps)).toEqual(['one', 'two', 'copy']);
    writeFileSync(join(root, 'other.txt'), 'changed');
    expect(build(steps)).toEqual(['two', 'copy']);
    expect(build(steps)).toEqual([]);
  });

  it('runs an "always" step every time, and every step with all', () => {
    const steps = [step('tsc', [], { always: true }), step('app', ['src'])];
    expect(build(steps)).toEqual(['tsc', 'app']);
    expect(build(steps)).toEqual(['tsc']);
    expect(build(steps, true)).toEqual(['tsc', 'app']);
  });

  it('does not record a failed step, so the next run tries it again', () => {
    const steps = [step('app', ['src'])];
    writeFileSync(join(root, 'fail'), '');
    expect(() => build(steps)).toThrow(/build step "app" failed \(exit 3\)/);
    rmSync(join(root, 'fail'));
    expect(build(steps)).toEqual(['app']);
    expect(build(steps)).toEqual([]);
  });

  it('skips a step whose script is absent (ifExists)', () => {
    expect(build([step('copy', [], { ifExists: 'scripts/copy.mjs' })])).toEqual([]);
  });

  it('covers every command of the full `npm run build`', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    const full = pkg.scripts['build']!;
    const commands = (STEPS as { command: string[] }[]).map((s) => s.command.join(' '));
    // Each part of the full build has a step (the workspaces' vite builds are one step each).
    for (const part of full.split('&&').map((p) => p.trim())) {
      if (part.startsWith('tsc -b')) expect(commands.some((c) => c.includes(part.slice('tsc '.length)))).toBe(true);
      else if (part.startsWith('npm run build')) for (const ws of part.match(/apps\/\w+/g)!) expect(commands).toContain(`npm run build --silent -w ${ws}`);
      else expect(commands, part).toContain(part);
    }
  });
});
