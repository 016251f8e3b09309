// Fuzz target: what lowbit does with a GGUF file beyond parsing it, on
// arbitrary bytes: the ModelSource view, `lowbit inspect` (text and JSON),
// the engine's hyper-parameter validation (LlamaConfig::from_source) and the
// tokenizer built from the metadata, which then encodes and decodes a
// sample. Only lowbit::Error may come out; every token id must be valid.
#include "eval/inspect.h"
#include "fuzz_common.h"
#include "io/gguf.h"
#include "io/model_source.h"
#include "model/llama_config.h"
#include "tokenizer/tokenizer.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = std::make_shared<MappedFile>("fuzz.gguf", std::vector<uint8_t>(data, data + size));
  std::unique_ptr<GgufReader> reader;
  try {
    reader = std::make_unique<GgufReader>(file);
  } catch (const Error&) {
    return 0;
  }
  // The same view ModelSource::open builds from a file.
  ModelSource src("fuzz.gguf", true);
  src.mutable_metadata() = reader->metadata();
  for (const GgufTensorInfo& info : reader->tensors()) {
    TensorView v;
    v.name = info.name;
    v.shape = info.shape;
    v.type = info.type;
    v.data = info.data;
    v.bytes = info.bytes;
    v.source_file = "fuzz.gguf";
    src.add_tensor(std::move(v));
  }
  src.keep_alive(file);
  src.add_file("fuzz.gguf");

  try {
    fuzz::consume(eval::inspect_text(src, true).size());
    fuzz::consume(eval::inspect_json(src).size());
  } catch (const Error&) {
  }
  try {
    auto config = model::LlamaConfig::from_source(src);
    fuzz::consume(config.summary().size());
  } catch (const Error&) {
  }
  try {
    Tokenizer tok = Tokenizer::from_metadata(src.metadata());
    const int32_t n = tok.n_vocab();
    for (bool special : {false, true}) {
      auto ids = tok.encode("Hello world! <s> 123 \xC3\xA9\xE2\x96\x81 \n\n\t x", special, special);
      for (int32_t id : ids) {
        LOWBIT_FUZZ_CHECK(id >= 0 && id < n);
        fuzz::consume(tok.token_to_piece(id).size());
      }
      fuzz::consume(tok.decode(ids, special).size());
    }
  } catch (const Error&) {
  }
  return 0;
}
