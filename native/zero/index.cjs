'use strict';
// Loads the compiled kernels. The binary is built from source at install time (or by
// `pnpm --filter @ds/zero-native build`); nothing is downloaded.
const path = require('node:path');

const file = path.join(__dirname, 'build', 'Release', 'ds_zero.node');

try {
  module.exports = require(file);
} catch (err) {
  // Node's own message for a missing file ends in a multi-line require stack; the first line says it.
  const reason = (err && err.message ? err.message : String(err)).split('\n')[0];
  const error = new Error(
    `@ds/zero-native: cannot load ${file}: ${reason}\n` +
      'Build it with `pnpm --filter @ds/zero-native build` (needs g++, make and python3).',
  );
  error.cause = err;
  error.code = err && err.code === 'MODULE_NOT_FOUND' ? 'DS_NATIVE_NOT_BUILT' : 'DS_NATIVE_LOAD_FAILED';
  throw error;
}
