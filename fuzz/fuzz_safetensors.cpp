// Fuzz target: the safetensors reader (header length, JSON header, dtypes,
// shapes, data_offsets) on arbitrary bytes, then every accepted tensor's
// first and last byte and its GGUF view (float_type, gguf_shape).
#include "fuzz_common.h"
#include "io/safetensors.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::Scratch::get().write("model.safetensors", data, size);
  try {
    SafetensorsFile f(path);
    const uint8_t* begin = f.mapping()->data();
    const uint8_t* end = begin + f.mapping()->size();
    for (const auto& t : f.tensors()) {
      LOWBIT_FUZZ_CHECK(f.find(t.name) == &t);
      LOWBIT_FUZZ_CHECK(t.bytes == 0 || (t.data >= begin && t.data < end && t.bytes <= uint64_t(end - t.data)));
      if (t.bytes) fuzz::consume(t.data[0] + t.data[t.bytes - 1]);
      fuzz::consume(uint64_t(t.element_count()));
      auto ne = t.gguf_shape();
      LOWBIT_FUZZ_CHECK(!ne.empty());
      try {
        fuzz::consume(uint64_t(t.float_type()));
      } catch (const Error&) {
      }
    }
    for (const auto& [k, v] : f.metadata()) fuzz::consume(k.size() + v.size());
  } catch (const Error&) {
  }
  return 0;
}
