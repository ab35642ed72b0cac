/**
 * The browser bundle stays small and browser-only, and bundlers pick the browser entry:
 * - `scripts/bundle.js` (the build's own esbuild settings, platform browser) builds without
 *   errors or warnings, to at most 15 KB + 1,672 bytes gzipped;
 * - the bundle has no import left at all: no `ws`, no `node:` built-in, no `require(`;
 * - package.json sends Node to dist/node.js (which brings `ws`) and everything else to
 *   dist/index.js, whose module graph never reaches `ws` or a Node built-in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type BuildResult, type OutputFile } from 'esbuild';
import { beforeAll, describe, expect, test } from 'vitest';

const CLIENT = fileURLToPath(new URL('..', import.meta.url));
const REPO = resolve(CLIENT, '../..');
// 15 KB, plus 32 bytes for the `broadcast` event and the `skip` publication of issue 16 (15,381 bytes with them),
// plus 27 for the hooks' reply fields of issue 16: `data` on `connected` with `client.connectData`, `info` on `subscribed` (15,419 bytes),
// plus 195 for the named events of issue 17 (measured on its own against the tree before it): the `event` check of the
// publish command and its place in the push, `subscription.on(name)` (not for the subscription's own event names), the
// `sseEvents` of an EventSource session and a publication named `close`,
// plus 115 for the hook of issue 17's opt-in MessagePack (measured on its own against HEAD 11957f7, 15,419 -> 15,534): the
// `encoding` option's codec in the WebSocket transport (offered subprotocol, binary messages both ways) and its JSON
// replacer in the outbox. The MessagePack library itself is only in the `@tidings/client/msgpack` entry,
// plus 1,303 for the chat primitives of issue 17 section 2 (measured on their own against HEAD e075ae9, 15,651 -> 16,954):
// `MessageLog` with the protocol's `applyMessageOp` (about 960 of it: a separate entry would cost every React app a second
// import path for `useMessages`), the subscription's edit/delete/annotate/react/unreact/markRead/readReceipts/unread, the
// client's markRead/readReceipts/unread and `read` event, and the reply and folded fields a publication carries.
const GZIP_BUDGET = 15 * 1024 + 59 + 195 + 115 + 1303;

type BundleClient = (options: { write?: boolean }) => Promise<BuildResult & { outputFiles?: OutputFile[] }>;

describe('browser bundle (scripts/bundle.js)', () => {
  let result: BuildResult & { outputFiles?: OutputFile[] };
  let code: string;

  beforeAll(async () => {
    // The build's own script (plain JS, untyped): imported by URL and typed here.
    const script = new URL('../scripts/bundle.js', import.meta.url).href;
    const { bundleClient } = (await import(script)) as { bundleClient: BundleClient };
    result = await bundleClient({ write: false });
    const js = result.outputFiles?.find((f) => f.path.endsWith('tidings.browser.js'));
    if (!js) throw new Error(`no tidings.browser.js among ${result.outputFiles?.map((f) => f.path).join(', ')}`);
    code = js.text;
  }, 60_000);

  test('builds for the browser without errors or warnings', () => {
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(code.length).toBeGreaterThan(1000);
    expect(code).toMatch(/export\s*\{[^}]*\bas Tidings\b/);
  });

  test(`is at most ${GZIP_BUDGET} bytes gzipped (level 9)`, () => {
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`browser bundle: ${code.length} bytes minified, ${gzipped} bytes gzipped (level 9; budget ${GZIP_BUDGET})`);
    expect(gzipped).toBeLessThanOrEqual(GZIP_BUDGET);
  });

  test('carries none of the protocol codec\'s command validation (src/wire.ts restates the few values the client needs)', () => {
    // The codec's command table names its field kinds: `userIds`, `positions`.
    expect(code).not.toMatch(/["']userIds["']/);
    expect(code).not.toMatch(/["']positions["']/);
  });

  test('carries no MessagePack library (opt-in through @tidings/client/msgpack)', () => {
    // msgpackr's error messages name the format.
    expect(code).not.toMatch(/MessagePack/);
  });

  test('has no Node-only imports: no ws, no node: built-ins, no require()', () => {
    expect(code).not.toMatch(/\bfrom\s*["']ws["']/);
    expect(code).not.toMatch(/\bimport\s*\(\s*["']ws["']\s*\)/);
    expect(code).not.toMatch(/["']node:[\w/]+["']/);
    expect(code).not.toMatch(/\brequire\s*\(/);
    // Everything is inside: the bundle imports nothing, statically or dynamically.
    expect(code).not.toMatch(/\bimport\s*["'{*]|\bfrom\s*["']|\bimport\s*\(/);
  });
});

describe('package entries', () => {
  const pkg = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };

  test('MessagePack is its own entry, @tidings/client/msgpack (dist/msgpack.js, built by tsc)', () => {
    expect(pkg.exports['./msgpack']).toEqual({ types: './dist/msgpack.d.ts', default: './dist/msgpack.js' });
    expect(existsSync(join(CLIENT, 'dist/msgpack.js'))).toBe(true);
  });

  test('Node gets dist/node.js; browsers, React Native and the rest get dist/index.js', () => {
    const root = pkg.exports['.']!;
    expect(root.node).toBe('./dist/node.js');
    expect(root.browser).toBe('./dist/index.js');
    expect(root.default).toBe('./dist/index.js');
    // Conditions match in key order: `node` must come before `browser` and `default`.
    const keys = Object.keys(root);
    expect(keys.indexOf('node')).toBeLessThan(keys.indexOf('browser'));
    expect(keys.indexOf('default')).toBe(keys.length - 1);
  });

  /** Every module specifier of one compiled file (static imports, re-exports, dynamic imports). */
  function specifiers(file: string): string[] {
    // Without comments: the JSDoc examples tsc keeps show imports too.
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    const found = new Set<string>();
    for (const m of text.matchAll(/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      found.add((m[1] ?? m[2] ?? m[3])!);
    }
    return [...found];
  }

  /** The bare (non-relative) imports reachable from one compiled entry, through its relative imports. */
  function externalImports(entry: string): Map<string, string[]> {
    const external = new Map<string, string[]>();
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      if (!existsSync(file)) throw new Error(`${relative(REPO, file)} is missing: run \`npm run build\` first (\`npm test\` does)`);
      for (const spec of specifiers(file)) {
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else external.set(spec, [...(external.get(spec) ?? []), relative(CLIENT, file)]);
      }
    };
    visit(join(CLIENT, entry));
    return external;
  }

  test('dist/index.js (tsc output) reaches no ws and no Node built-in; dist/node.js imports ws', () => {
    const browser = externalImports('dist/index.js');
    // eventsource-parser (the SSE transport's parser) imports nothing itself; the bundle test above checks it is inside.
    expect([...browser.keys()].sort()).toEqual(['@tidings/protocol', 'eventsource-parser']);
    expect(specifiers(join(CLIENT, 'dist/node.js'))).toContain('ws');
    expect([...externalImports('dist/node.js').keys()].sort()).toEqual(['@tidings/protocol', 'eventsource-parser', 'ws']);
  });

  test('a browser bundler resolving @tidings/client picks dist/index.js, not dist/node.js or ws', async () => {
    const out = await build({
      stdin: { contents: "export { Tidings } from '@tidings/client';", resolveDir: REPO, loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    expect(out.errors).toEqual([]);
    const inputs = Object.keys(out.metafile!.inputs).map((p) => relative(REPO, resolve(REPO, p)));
    expect(inputs).toContain('packages/client/dist/index.js');
    expect(inputs).not.toContain('packages/client/dist/node.js');
    expect(inputs.filter((p) => /(^|\/)node_modules\/ws\//.test(p))).toEqual([]);
  });
});
