// Builds build/Release/ds_comm_gloo.node with node-gyp.
//   node scripts/build.mjs               configure if needed, then an incremental build
//   node scripts/build.mjs --if-missing  (the install script) do nothing when the binary exists;
//                                        when the toolchain or Gloo is missing, say so and exit 0 so
//                                        installs still succeed (the gloo backend then reports itself
//                                        unavailable and ds uses its other backends)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ifMissing = process.argv.includes('--if-missing');
const binary = path.join(root, 'build', 'Release', 'ds_comm_gloo.node');

if (ifMissing && existsSync(binary)) process.exit(0);

function runs(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

// Compiles and links a small program against Gloo's TCP transport: this finds the headers and
// the library (and the libraries it pulls in) wherever the distribution puts them.
function haveGloo(cxx) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ds-comm-gloo-native-'));
  try {
    const src = path.join(dir, 'probe.cc');
    writeFileSync(
      src,
      '#include <gloo/allreduce.h>\n#include <gloo/rendezvous/context.h>\n#include <gloo/transport/tcp/device.h>\n' +
        'int main() { gloo::transport::tcp::attr a; a.hostname = "127.0.0.1"; return a.hostname.empty(); }\n',
    );
    return runs(cxx, ['-std=c++17', src, '-o', path.join(dir, 'probe'), '-lgloo', '-lpthread']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cxx = process.env.CXX || 'g++';
const missing = [];
const haveCxx = runs(cxx, ['--version']);
if (!haveCxx) missing.push(`a C++17 compiler (${cxx})`);
if (!runs('make', ['--version'])) missing.push('make');
if (!runs('python3', ['--version'])) missing.push('python3');
if (haveCxx && !haveGloo(cxx)) missing.push('Gloo headers and library (gloo/allreduce.h, -lgloo)');

if (missing.length > 0) {
  const message =
    `@ds/comm-gloo-native: cannot build the Gloo binding: missing ${missing.join(', ')}. ` +
    'Install them with `apt-get install -y g++ make python3 libgloo-dev` ' +
    '(other distributions: a C++17 compiler, make, python3 and Gloo built with its TCP transport), ' +
    'then run `pnpm --filter @ds/comm-gloo-native build`.' +
    (ifMissing ? " Until then the 'gloo' backend of @ds/comm is unavailable." : '');
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
  console.error(`@ds/comm-gloo-native: could not run node-gyp: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
