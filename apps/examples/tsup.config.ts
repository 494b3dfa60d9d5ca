import { defineConfig } from 'tsup';

// One ESM entry; the workspace packages and npm dependencies stay external (node resolves
// @ds/core and @ds/models through their exports to dist/, so build them first).
export default defineConfig({
  entry: ['src/train.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
});
