// Builds build/Release/ds_zero.node with node-gyp.
//   node scripts/build.mjs               configure if needed, then an incremental build
//   node scripts/build.mjs --if-missing  (the install script) do nothing when the binary exists;
//                                        when the toolchain is missing, say so and exit 0 so
//                                        installs still succeed and ds runs its TypeScript kernels
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ifMissing = process.argv.includes('--if-missing');
const binary = path.join(root, 'build', 'Release', 'ds_zero.node');

if (ifMissing && existsSync(binary)) process.exit(0);

function runs(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

const cxx = process.env.CXX || 'g++';
const missing = [];
if (!runs(cxx, ['--version'])) missing.push(`a C++17 compiler (${cxx})`);
if (!runs('make', ['--version'])) missing.push('make');
if (!runs('python3', ['--version'])) missing.push('python3');

if (missing.length > 0) {
  const message =
    `@ds/zero-native: cannot build the native file I/O: missing ${missing.join(', ')}. ` +
    'Install them with `apt-get install -y g++ make python3` ' +
    '(other distributions: a C++17 compiler, make and python3), ' +
    'then run `pnpm --filter @ds/zero-native build`.' +
    (ifMissing ? ' Until then @ds/zero uses its TypeScript file I/O (fs.promises).' : '');
  console.error(message);
  process.exit(ifMissing ? 0 : 1);
}

const require = createRequire(import.meta.url);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');

const env = { ...process.env };
// Node's own headers ship in /usr/include/node on Debian-style installs; without a nodedir
// node-gyp would try to download them.
const hasNodedir = env.npm_config_nodedir || env.npm_package_config_node_gyp_nodedir;
if (!hasNodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';

const command = existsSync(path.join(root, 'build', 'Makefile')) ? 'build' : 'rebuild';
const result = spawnSync(process.execPath, [nodeGyp, command, '--jobs', 'max'], { cwd: root, env, stdio: 'inherit' });
if (result.error) {
  console.error(`@ds/zero-native: could not run node-gyp: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
