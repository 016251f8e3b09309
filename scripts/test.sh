#!/usr/bin/env bash
# Sets up (Debian packages), builds lowbit and runs the whole test suite.
# With --all, LOWBIT_FULL_TESTS=1 or CI=true it also builds and runs the suite
# under AddressSanitizer + UndefinedBehaviorSanitizer and runs each fuzz
# target for a bounded time (scripts/sanitize.sh, scripts/fuzz.sh; about
# 30 more minutes on 2 cores). LOWBIT_FULL_TESTS=0 turns them off under CI.
# Tests that need ../shared skip without it, and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."

all=0
if [ "${CI:-}" = "true" ] || [ "${LOWBIT_FULL_TESTS:-}" = "1" ] || [ "${1:-}" = "--all" ]; then all=1; fi
if [ "${LOWBIT_FULL_TESTS:-}" = "0" ]; then all=0; fi

bash scripts/setup.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 2700

if [ "$all" = 1 ]; then
  bash scripts/sanitize.sh
  bash scripts/fuzz.sh
fi
echo "lowbit: all tests passed"
