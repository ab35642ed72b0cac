/**
 * Serves a test page beside the built browser bundle (dist/tidings.browser.js, written by
 * `npm run build`) and its source map, for the Chromium tests of the client.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { serveFiles, type FileServer } from '../../../../test/support/chromium.js';

const BUNDLE = fileURLToPath(new URL('../../dist/tidings.browser.js', import.meta.url));

/** Serves `page` (a file beside this one) at `route`, and the bundle at /tidings.js. */
export async function serveBundlePage(route: string, page: string): Promise<FileServer> {
  let bundle: string;
  try {
    bundle = await readFile(BUNDLE, 'utf8');
  } catch (err) {
    throw new Error(`${BUNDLE} is missing: run \`npm run build\` first (\`npm test\` does). ${(err as Error).message}`);
  }
  const map = await readFile(`${BUNDLE}.map`, 'utf8').catch(() => undefined);
  return serveFiles({
    [route]: { body: await readFile(fileURLToPath(new URL(`./${page}`, import.meta.url)), 'utf8'), type: 'text/html; charset=utf-8' },
    '/tidings.js': { body: bundle, type: 'text/javascript; charset=utf-8' },
    // The bundle's `//# sourceMappingURL=tidings.browser.js.map`, relative to /tidings.js.
    ...(map ? { '/tidings.browser.js.map': { body: map, type: 'application/json' } } : {}),
  });
}
