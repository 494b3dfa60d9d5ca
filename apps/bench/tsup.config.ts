import { defineConfig } from 'tsup';

// The CLI, and the minimal script the comm suite's start-up figure launches; @ds/core, @ds/models and commander stay external (node resolves the
// workspace packages through their exports to dist/, so build them first).
export default defineConfig({
  entry: ['src/index.ts', 'src/first-collective.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
});
