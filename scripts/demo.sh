#!/usr/bin/env bash
# The README's main command: sets up, builds lowbit, then quantizes a model to
# Q8_0 and Q4_K_M and shows what that saved (sizes) and what it cost
# (perplexity, KL divergence, same-top-token rate against the original).
#
#   bash scripts/demo.sh [MODEL]     MODEL: a GGUF file or a Hugging Face folder
#
# Default MODEL: ../shared/models/gutenberg23m when present, else a small
# random-weight Llama-shaped model that lowbit generates itself.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target lowbit
lowbit=build/lowbit
mkdir -p out

model="${1:-}"
if [ -z "$model" ]; then
  if [ -d ../shared/models/gutenberg23m ]; then
    model=../shared/models/gutenberg23m
  else
    model=out/synthetic-tiny.gguf
    [ -f "$model" ] || "$lowbit" synth -o "$model" --shape tiny --type f16
  fi
fi
text=../shared/text/gutenberg_sign_of_four.txt
[ -f "$text" ] || text=README.md

name=$(basename "${model%/}")
name=${name%.gguf}
echo "== model: $model"
"$lowbit" inspect "$model" --no-tensors | sed -n '1,4p'

for preset in Q8_0 Q4_K_M; do
  out="out/$name-$preset.gguf"
  echo
  echo "== quantize to $preset -> $out"
  "$lowbit" quantize "$model" -o "$out" --preset "$preset" --quiet
done

echo
echo "== what it cost: quality against the original on $(basename "$text")"
for preset in Q8_0 Q4_K_M; do
  echo "-- $preset"
  "$lowbit" kld "$model" "out/$name-$preset.gguf" -f "$text" --ctx 256 --chunks 40
done
