#!/usr/bin/env bash
# Builds the whole test suite with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DLOWBIT_SANITIZE=ON, the default compiler) in build-asan and runs it with
# ctest. Any sanitizer report fails the test that triggered it (UBSan is
# built with -fno-sanitize-recover, ASan aborts, LeakSanitizer is on).
#
# Env: LOWBIT_SANITIZE_EXCLUDE  ctest -E regex of tests to leave out
#        (default: the whole-text reference tests, names ending in "Slow", are left out; set
#        LOWBIT_SANITIZE_ALL=1 to run everything, see docs/fuzzing.md)
#      LOWBIT_SANITIZE_JOBS     parallel tests (default nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-asan
jobs="${LOWBIT_SANITIZE_JOBS:-$(nproc)}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOWBIT_SANITIZE=ON -DLOWBIT_TESTS=ON \
  -DLOWBIT_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"

# detect_leaks: LeakSanitizer. detect_stack_use_after_return finds returned
# views into dead stack frames. The suppressions file lists known issues in
# system libraries only (never in lowbit).
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
if [ -f scripts/lsan.supp ]; then export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:${LSAN_OPTIONS:-}"; fi

args=(--test-dir "$build" -j "$jobs" --output-on-failure --timeout 1800)
if [ "${LOWBIT_SANITIZE_ALL:-0}" != 1 ]; then args+=(-E "Slow$"); fi
if [ -n "${LOWBIT_SANITIZE_EXCLUDE:-}" ]; then args+=(-E "$LOWBIT_SANITIZE_EXCLUDE"); fi
start=$(date +%s)
ctest "${args[@]}"
echo "sanitize: test suite clean under ASan + UBSan ($(( $(date +%s) - start ))s)"
