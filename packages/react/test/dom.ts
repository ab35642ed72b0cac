/**
 * A DOM for the React tests: jsdom's globals (window, document, …) installed into Node's
 * test environment. Import it first in every React test file, before React loads (React
 * DOM checks for a DOM when its module is evaluated).
 *
 * Why not `@vitest-environment jsdom`: that environment also transforms every imported
 * module for a browser, and the tests run a real Tidings server in-process, whose Node code
 * such a transform breaks (Vite rewrites `new URL('…', import.meta.url)` to resolve
 * against `location`, so the server's `fileURLToPath(new URL(…, import.meta.url))` throws
 * when it loads). Here modules are transformed for Node and only the globals are jsdom's.
 */
import { afterAll } from 'vitest';
import { builtinEnvironments } from 'vitest/runtime';

// jsdom's setup replaces some globals that the in-process server needs as Node has them.
const { URL, URLSearchParams, Uint8Array } = globalThis;
const dom = await builtinEnvironments.jsdom.setup(globalThis, {});
// `TextEncoder` and `Buffer` still make Node's Uint8Arrays, and the server's token code checks
// `key instanceof Uint8Array`; jsdom's URL differs from Node's in small ways the server may see.
Object.assign(globalThis, { URL, URLSearchParams, Uint8Array });
afterAll(() => dom.teardown(globalThis));
