#!/usr/bin/env bash
# Builds lowbit's libFuzzer targets with clang-14 (ASan + UBSan) in
# build-fuzz and runs each for a bounded time. Fails on any crash, sanitizer
# report, leak, timeout (-timeout=10 s per input) or out-of-memory
# (-rss_limit_mb=2048). See docs/fuzzing.md.
#
#   scripts/fuzz.sh                 all targets, LOWBIT_FUZZ_SECONDS each (default 60)
#   scripts/fuzz.sh gguf safetensors   only these targets
# Env: LOWBIT_FUZZ_SECONDS, LOWBIT_SHARED (default ../shared),
#      LOWBIT_FUZZ_JOBS (parallel fuzzing processes per target, default 1).
#
# Seeds are rebuilt from ../shared on every run (never copied into the repo)
# into build-fuzz/seeds; what the fuzzer learns accumulates in
# build-fuzz/corpus (kept between runs); crashing inputs land in
# build-fuzz/artifacts. fuzz/regressions/<target>/ holds small inputs that
# once found bugs; they are replayed first.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${LOWBIT_FUZZ_SECONDS:-60}"
shared="${LOWBIT_SHARED:-../shared}"
jobs="${LOWBIT_FUZZ_JOBS:-1}"
build=build-fuzz

if ! command -v clang++-14 >/dev/null; then
  echo "fuzz: clang++-14 not found (scripts/setup.sh installs it)" >&2
  exit 1
fi
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLOWBIT_FUZZ=ON -DLOWBIT_TESTS=OFF -DLOWBIT_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_all

# Sanitizer behaviour: every UBSan finding is fatal (the library is built
# with recoverable checks in this mode), leaks are reported.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0:${ASAN_OPTIONS:-}"
# Targets that read from files write their input to a scratch folder.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

rm -rf "$build/seeds"
mkdir -p "$build/seeds" "$build/corpus" "$build/artifacts"
if [ -d "$shared" ]; then
  "$build/fuzz/make_seeds" "$shared" "$build/seeds"
else
  echo "fuzz: $shared not found; fuzzing from the hand-made seeds only"
  "$build/fuzz/make_seeds" /nonexistent "$build/seeds" || true
fi

targets=()
if [ $# -gt 0 ]; then
  for t in "$@"; do targets+=("fuzz_${t#fuzz_}"); done
else
  mapfile -t targets < "$build/fuzz_targets.txt"
fi

summary="$build/fuzz-summary.txt"
: > "$summary"
failed=0
for t in "${targets[@]}"; do
  name="${t#fuzz_}"
  bin="$build/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; failed=1; continue; }
  corpus="$build/corpus/$name"
  seeds="$build/seeds/$name"
  mkdir -p "$corpus" "$seeds"
  common=(-rss_limit_mb=2048 -timeout=10 -max_len=65536 "-artifact_prefix=$build/artifacts/$name-")

  # 1. Replay the regression inputs (bugs found before must stay fixed).
  if [ -d "fuzz/regressions/$name" ] && [ -n "$(ls -A "fuzz/regressions/$name")" ]; then
    if ! "$bin" "${common[@]}" -runs=0 "fuzz/regressions/$name"/* > "$build/$name-regressions.log" 2>&1; then
      echo "fuzz: $t FAILED on a regression input; see $build/$name-regressions.log" >&2
      tail -40 "$build/$name-regressions.log" >&2
      failed=1
      continue
    fi
  fi

  # 2. Fuzz for a bounded time: new inputs go to the corpus folder (first),
  # seeds are read only.
  log="$build/$name.log"
  echo "fuzz: $t for ${seconds}s"
  status=0
  if [ "$jobs" -gt 1 ]; then
    "$bin" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 -jobs="$jobs" -workers="$jobs" \
      "$corpus" "$seeds" > "$log" 2>&1 || status=$?
    cat fuzz-*.log >> "$log" 2>/dev/null || true
    rm -f fuzz-*.log
  else
    "$bin" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 "$corpus" "$seeds" > "$log" 2>&1 ||
      status=$?
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  files=$(ls "$corpus" | wc -l)
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $status) after $runs executions; log: $log" >&2
    grep -E "ERROR|runtime error|Test unit written|SUMMARY|uncaught|out-of-memory|timeout|fuzz invariant" "$log" | head -20 >&2
    echo "$t FAILED executions=$runs" >> "$summary"
    failed=1
  else
    echo "$t ok executions=$runs coverage=${cov:-?} corpus=$files" | tee -a "$summary"
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED (crashing inputs in $build/artifacts)" >&2
  exit 1
fi
echo "fuzz: all targets clean ($summary)"
