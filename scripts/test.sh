#!/usr/bin/env bash
# The README's test command: installs what the tests run when it is missing
# (scripts/test-tools.sh), makes sure PostgreSQL is reachable, starting a
# throwaway one when needed and stopping it at exit (scripts/postgres.sh),
# type-checks, builds the binaries, and runs every test file under test/, or
# the files given (Node 20's test runner does not expand globs itself).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-tools.sh
source scripts/postgres.sh

ensure_test_tools
trap stop_postgres EXIT
trap 'exit 130' INT TERM
ensure_postgres

npx tsc --noEmit
npx tsc -p tsconfig.build.json
if [ "$#" -gt 0 ]; then files=("$@"); else mapfile -t files < <(find test -name '*.test.ts' | sort); fi
node --import tsx --test --test-force-exit --test-concurrency=2 "${files[@]}"
