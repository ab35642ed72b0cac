import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Served by the Tidings server under /dashboard/.
// The workspace packages are bundled from their sources (browser entries), so building the
// dashboard does not depend on `tsc -b` having run first.
export default defineConfig({
  base: '/dashboard/',
  plugins: [react()],
  resolve: {
    alias: {
      '@tidings/protocol': src('../../packages/protocol/src/index.ts'),
      '@tidings/client': src('../../packages/client/src/index.ts'),
      '@tidings/react': src('../../packages/react/src/index.ts'),
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 600 },
  server: {
    // `npx vite` against a running `tidings dev` on :8080, for working on the UI.
    proxy: {
      '/dashboard/api': 'http://127.0.0.1:8080',
      '/api': 'http://127.0.0.1:8080',
      '/connection': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
});
