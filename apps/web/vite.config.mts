// The web UI's build: static files into dist/web, which the API serves on `/` (apps/api/src/common/web-ui.ts).
import { fileURLToPath } from 'node:url';

import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/',
  // JSX through Vite's own transform (React 17+ automatic runtime): no React plugin needed, as
  // the UI needs no fast refresh to be built.
  oxc: { jsx: { runtime: 'automatic' } },
  resolve: {
    // The typed client's source (its package.json points at the CommonJS build for Node).
    alias: { '@vaultline/api-client': here('../../libs/api-client/src/index.ts') },
  },
  build: {
    outDir: here('../../dist/web'),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080', '/docs': 'http://127.0.0.1:8080' } },
});
