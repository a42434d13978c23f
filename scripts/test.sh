#!/usr/bin/env bash
# Builds llmux and runs every test: unit + integration (CTest) and the conformance
# tests with the official SDK clients (node:test). Installs what it needs first.
# Usage: scripts/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"

scripts/bootstrap.sh
cmake -S . -B "$build" -DLLMUX_WERROR=ON >/dev/null
cmake --build "$build" -j2
(cd "$build" && ctest -j2 --output-on-failure --timeout 300)

if [ -f tests/conformance/package-lock.json ]; then
    export LLMUX_BIN="$PWD/$build/llmux"
    cd tests/conformance
    npm ci --no-audit --no-fund --loglevel=error
    node --test --test-concurrency=1
fi
