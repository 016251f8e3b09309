// Fuzz target: the GGUF reader on arbitrary bytes (fed from memory, no file),
// then every typed metadata accessor, every tensor's first and last byte,
// and a write -> re-read round trip of whatever the reader accepted, which
// must reproduce the same metadata, tensor table and tensor bytes.
#include <cstring>

#include "fuzz_common.h"
#include "io/gguf.h"

using namespace lowbit;

namespace {

void exercise_value(const GgufValue& v) {
  fuzz::consume(v.to_display().size());
  try { fuzz::consume(v.as_u64()); } catch (const Error&) {}
  try { fuzz::consume(uint64_t(v.as_i64())); } catch (const Error&) {}
  try { fuzz::consume(uint64_t(v.as_f64() != 0)); } catch (const Error&) {}
  try { fuzz::consume(v.as_string().size()); } catch (const Error&) {}
  if (v.type() != GgufType::ARRAY) return;
  const GgufArray& a = v.as_array();
  try { fuzz::consume(v.as_f32_vector().size()); } catch (const Error&) {}
  try { fuzz::consume(v.as_i64_vector().size()); } catch (const Error&) {}
  try { fuzz::consume(v.as_string_vector().size()); } catch (const Error&) {}
  for (const GgufValue& n : a.nested) exercise_value(n);
}

void check_same(const GgufReader& a, const GgufReader& b) {
  LOWBIT_FUZZ_CHECK(a.metadata().size() == b.metadata().size());
  for (size_t i = 0; i < a.metadata().size(); ++i) {
    const auto& [ka, va] = a.metadata().entries()[i];
    const auto& [kb, vb] = b.metadata().entries()[i];
    LOWBIT_FUZZ_CHECK(ka == kb);
    LOWBIT_FUZZ_CHECK(va.type() == vb.type());
    LOWBIT_FUZZ_CHECK(va.to_display(1u << 20) == vb.to_display(1u << 20));
  }
  LOWBIT_FUZZ_CHECK(a.tensors().size() == b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const auto& ta = a.tensors()[i];
    const auto& tb = b.tensors()[i];
    LOWBIT_FUZZ_CHECK(ta.name == tb.name && ta.shape == tb.shape && ta.type == tb.type && ta.bytes == tb.bytes);
    LOWBIT_FUZZ_CHECK(ta.bytes == 0 || std::memcmp(ta.data, tb.data, ta.bytes) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = std::make_shared<MappedFile>("fuzz.gguf", std::vector<uint8_t>(data, data + size));
  std::unique_ptr<GgufReader> reader;
  try {
    reader = std::make_unique<GgufReader>(file);
  } catch (const Error&) {
    return 0;
  }
  const GgufReader& r = *reader;
  for (const auto& [key, value] : r.metadata().entries()) {
    fuzz::consume(key.size());
    exercise_value(value);
  }
  // general.architecture may be missing or not a string: a lowbit::Error for
  // the caller, as for any typed metadata access.
  try { fuzz::consume(r.architecture().size()); } catch (const Error&) {}
  const uint8_t* begin = file->data();
  const uint8_t* end = begin + file->size();
  for (const auto& t : r.tensors()) {
    fuzz::consume(uint64_t(t.element_count()) + uint64_t(t.row_count()));
    LOWBIT_FUZZ_CHECK(t.data >= begin && t.data <= end && t.bytes <= uint64_t(end - t.data));
    LOWBIT_FUZZ_CHECK(t.bytes == row_bytes(t.type, t.shape[0]) * uint64_t(t.row_count()));
    if (t.bytes) fuzz::consume(t.data[0] + t.data[t.bytes - 1]);
    LOWBIT_FUZZ_CHECK(r.find_tensor(t.name) == &t);
  }

  // Round trip through the writer: whatever was accepted must be writable
  // and read back the same.
  const std::string out = fuzz::Scratch::get().path("roundtrip.gguf");
  {
    GgufWriter w(out);
    for (const auto& [k, v] : r.metadata().entries()) w.metadata().set(k, v);
    for (const auto& t : r.tensors()) w.add_tensor(t.name, t.shape, t.type);
    w.begin_data();
    for (const auto& t : r.tensors()) w.write_tensor_data(t.data, t.bytes);
    w.finish();
  }
  GgufReader back(out);
  check_same(r, back);
  LOWBIT_FUZZ_CHECK(back.file_size() == GgufReader(out).file_size());
  return 0;
}
