import { defineConfig } from 'tsup';

// One ESM entry. `ds run` and `ds env` load their modules lazily (separate chunks), so the
// launcher's start-up stays small; @ds/core, commander and tsx stay external.
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  splitting: true,
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
});
