#!/usr/bin/env bash
# Type-checks, builds the binaries, and runs every test file under test/
# (Node 20's test runner does not expand globs itself).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian tools the suites need (prometheus/promtool), installed when missing.
bash scripts/ensure-tools.sh
npx tsc --noEmit
npx tsc -p tsconfig.build.json
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
exec node --import tsx --test --test-force-exit --test-concurrency=2 "${files[@]}"
