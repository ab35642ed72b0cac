import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const source = (path: string) => decodeURIComponent(new URL(path, import.meta.url).pathname);

// Served by the Tidings server under /demo/ (`tidings dev` only).
export default defineConfig({
  base: '/demo/',
  plugins: [react()],
  resolve: {
    // The workspace packages from their sources: the demo builds without building them first,
    // and always shows the SDK of this checkout.
    alias: {
      '@tidings/protocol': source('../../packages/protocol/src/index.ts'),
      '@tidings/client': source('../../packages/client/src/index.ts'),
      '@tidings/react': source('../../packages/react/src/index.ts'),
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, target: 'es2022' },
});
