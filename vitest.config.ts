import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against sources, so a change in a package needs no rebuild to be tested.
    // '@tidings/client' resolves to its Node entry (which makes `ws` the default WebSocket).
    alias: {
      '@tidings/protocol': src('./packages/protocol/src/index.ts'),
      '@tidings/client': src('./packages/client/src/node.ts'),
      '@tidings/react': src('./packages/react/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.{ts,tsx}', 'packages/*/test/**/*.test.{ts,tsx}', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Type-level tests (`*.test-d.ts`) run through tsc: typed channels must stay typed.
    typecheck: {
      enabled: true,
      include: ['packages/*/test/**/*.test-d.ts'],
      tsconfig: './packages/client/test/tsconfig.json',
    },
  },
});
