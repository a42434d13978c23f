#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a bounded time on its
# committed corpus (fuzz/corpus/<name>/). New inputs go to a scratch directory so
# the committed corpus only changes when someone decides it should.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 20 s, all targets)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true
scripts/bootstrap.sh --fuzz
CC=clang cmake -S . -B build-fuzz -DLLMUX_FUZZ=ON -DLLMUX_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2
targets=("$@")
if ((${#targets[@]} == 0)); then
    for f in build-fuzz/fuzz/fuzz_*; do targets+=("$(basename "$f")"); done
fi
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
    name="${t#fuzz_}"
    corpus="fuzz/corpus/$name"
    scratch="$(mktemp -d)"
    mkdir -p "$corpus"
    echo "== $t (${secs}s)"
    build-fuzz/fuzz/"$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 "$scratch" "$corpus" 2>&1 |
        grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)" || true
    rm -rf "$scratch"
    if ls fuzz/artifacts/ 2>/dev/null | grep -q .; then
        echo "fuzz: $t found a crash, see fuzz/artifacts/" >&2
        exit 1
    fi
done
