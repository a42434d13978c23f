#!/usr/bin/env bash
# Soak test: the proxy under mixed load against the mock (tests/soak/soak.py), then
# SIGTERM during load. Not part of CTest. Builds build/ first.
# Usage: scripts/soak.sh [--short] [soak.py options...]   (default: 5 minutes; --short: 20 s)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cmake -S . -B build -DLLMUX_WERROR=ON >/dev/null
cmake --build build -j2 --target llmux
exec python3 tests/soak/soak.py --bin build/llmux "$@"
