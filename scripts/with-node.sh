#!/usr/bin/env bash
# Runs a command with another Node.js release first on PATH, e.g.
#   bash scripts/with-node.sh 24.22.3 npm test
# The release comes from the npm registry (the node-<platform>-<arch> package
# ships the official binary) and is kept in the user's cache, outside the
# repository.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-tools.sh

if [ "$#" -lt 2 ]; then
  echo "usage: bash scripts/with-node.sh VERSION COMMAND [ARG...]" >&2
  exit 2
fi
version=$1
shift
package="node-$(node -p 'process.platform + "-" + process.arch')"
dir="$HALO_KEYS_CACHE/$package-$version"
if [ ! -x "$dir/bin/node" ]; then
  echo "with-node: installing Node.js $version from the npm registry ($package)" >&2
  npm_package_into "$package@$version" "$dir"
fi
if [ "$("$dir/bin/node" --version)" != "v$version" ]; then
  echo "with-node: $dir/bin/node is not Node.js $version" >&2
  exit 1
fi
export PATH="$dir/bin:$PATH"
exec "$@"
