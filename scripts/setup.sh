#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine with Node 20 (run as root, or with sudo
# available): system libraries, pnpm, workspace dependencies and every build, native included.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v python3 >/dev/null || need_apt+=(python3)
[ -f /usr/include/x86_64-linux-gnu/cblas.h ] || [ -f /usr/include/cblas.h ] || need_apt+=(libopenblas-dev)
[ -f /usr/include/gloo/allreduce.h ] || need_apt+=(libgloo-dev)   # @ds/comm-gloo: CPU collectives across processes
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt-get"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PNPM_VERSION=12.21.0
if ! command -v pnpm >/dev/null || [ "$(pnpm --version)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION" 2>/dev/null
fi

export TURBO_TELEMETRY_DISABLED=1
# Node's headers ship with Debian's nodejs package; node-gyp cannot download them here.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
pnpm install --frozen-lockfile
pnpm exec turbo run build --output-logs=errors-only
