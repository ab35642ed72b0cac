#!/usr/bin/env node
/**
 * Builds the browser bundle of @tidings/client: one ESM file with @tidings/protocol inside,
 * minified, for platform `browser` (an import of a Node built-in or of `ws` fails the build).
 * Output: packages/client/dist/tidings.browser.js (+ .map). Run by `npm run build`.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Builds the bundle; with `write: false` returns the output files instead of writing them. */
export async function bundleClient({ write = true } = {}) {
  return build({
    entryPoints: [`${root}/src/index.ts`],
    outfile: `${root}/dist/tidings.browser.js`,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    // Members named `_…` are the SDK's internals (never part of the API): renamed like locals.
    mangleProps: /^_/,
    sourcemap: true,
    legalComments: 'none',
    write,
    logLevel: 'silent',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await bundleClient();
}
