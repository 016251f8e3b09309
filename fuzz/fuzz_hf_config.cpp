// Fuzz target: config.json parsing (read_hf_config: JSON with a depth limit,
// typed fields, ranges, RoPE settings) and its translation to GGUF metadata
// and llama3 RoPE factors, on arbitrary bytes.
#include "fuzz_common.h"
#include "io/hf_config.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::Scratch::get().write("config.json", data, size);
  try {
    HfConfig c = read_hf_config(path);
    GgufMetadata m;
    add_hf_config_metadata(c, 1, m);
    for (const auto& [k, v] : m.entries()) fuzz::consume(v.to_display().size());
    auto factors = llama3_rope_factors(c);
    LOWBIT_FUZZ_CHECK(factors.empty() || int64_t(factors.size()) == c.head_dim / 2);
    fuzz::consume(size_label(uint64_t(c.hidden_size) * uint64_t(c.n_layer)).size());
  } catch (const Error&) {
  }
  return 0;
}
