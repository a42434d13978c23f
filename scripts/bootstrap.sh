#!/usr/bin/env bash
# Installs the Debian packages llmux needs to build and test. Idempotent and
# non-interactive: it runs 'apt-get update' once and installs exactly what is
# missing. Usage: scripts/bootstrap.sh [--bench] [--fuzz]
set -euo pipefail

pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libevent-dev libcjson-dev
      libssl-dev libhttp-parser-dev libcmocka-dev nodejs npm ca-certificates)
for arg in "$@"; do
    case "$arg" in
        --fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
        --bench) pkgs+=(nginx-light wrk valgrind util-linux linux-perf) ;;
        *) echo "bootstrap.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node from another source (nvm, the image) is fine: only install Debian's if none is on PATH.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    filtered=()
    for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
    missing=("${filtered[@]+"${filtered[@]}"}")
fi
# The soak driver (tests/soak/soak.py) needs a python3; any one on PATH will do.
if ! command -v python3 >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' python3 2>/dev/null | grep -q "install ok installed" || missing+=(python3)
fi
if ((${#missing[@]} == 0)); then
    exit 0
fi
echo "bootstrap: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
