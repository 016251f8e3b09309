// Fuzz target: tokenizer.json -> GGUF tokenizer metadata
// (hf_tokenizer_metadata). One input carries up to three files separated by
// a "\n@@@@\n" line: tokenizer.json, tokenizer_config.json, config.json (the
// last two are left out when absent). Whatever is accepted must describe a
// consistent vocabulary: as many token types (and scores) as tokens, and
// special token ids inside it.
#include "fuzz_common.h"
#include "io/hf_tokenizer.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& scratch = fuzz::Scratch::get();
  auto parts = fuzz::split_parts(data, size, 3);
  scratch.write("tokenizer.json", parts[0]);
  if (parts.size() > 1) scratch.write("tokenizer_config.json", parts[1]);
  else scratch.remove("tokenizer_config.json");
  if (parts.size() > 2) scratch.write("config.json", parts[2]);
  else scratch.remove("config.json");
  try {
    GgufMetadata m = hf_tokenizer_metadata(scratch.dir());
    const auto& tokens = m.at("tokenizer.ggml.tokens").as_string_vector();
    LOWBIT_FUZZ_CHECK(m.at("tokenizer.ggml.token_type").as_array().count == tokens.size());
    if (const GgufValue* s = m.find("tokenizer.ggml.scores")) LOWBIT_FUZZ_CHECK(s->as_array().count == tokens.size());
    for (const auto& [k, v] : m.entries()) {
      fuzz::consume(v.to_display().size());
      if (k.size() > 9 && k.compare(k.size() - 9, 9, "_token_id") == 0) LOWBIT_FUZZ_CHECK(v.as_u64() < tokens.size());
    }
  } catch (const Error&) {
  }
  return 0;
}
