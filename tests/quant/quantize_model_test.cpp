// The quantization pipeline on real models: llama.cpp's Q4_K_M file of
// gutenberg23m is the reference for tensor types, order and file size; the
// HF folder must give the same layout and the same bytes as the GGUF; the
// fallbacks of stories260K; dequantizing presets; bad input (NaN weights,
// output == input, unknown preset) fails cleanly with no file left behind.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "common/shared_data.h"
#include "core/error.h"
#include "core/parallel.h"
#include "io/gguf.h"
#include "io/model_source.h"
#include "quant/formats.h"
#include "quant/quantize_model.h"

namespace lowbit::quant {
namespace {

QuantizeResult run(const std::string& input, const std::string& output, const std::string& preset,
                   QuantizeOptions opt = {}) {
  opt.preset = preset;
  opt.progress = false;
  auto model = ModelSource::open(input);
  return quantize_model(*model, output, opt);
}

std::vector<float> dequantize(const GgufTensorInfo& t) {
  std::vector<float> out(size_t(t.element_count()));
  const int64_t n = t.shape[0];
  const size_t rb = row_bytes(t.type, n);
  for (int64_t r = 0; r < t.row_count(); ++r) dequantize_row(t.type, t.data + size_t(r) * rb, out.data() + r * n, n);
  return out;
}

double relative_rmse(const std::vector<float>& ref, const std::vector<float>& q) {
  double e = 0, s = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    e += (double(q[i]) - ref[i]) * (double(q[i]) - ref[i]);
    s += double(ref[i]) * ref[i];
  }
  return std::sqrt(e / s);
}

uint64_t file_size(const std::string& p) { return std::filesystem::file_size(p); }

TEST_SHARED(QuantizeModel, Q4KMMatchesLlamaCppTypesAndSize) {
  const std::string src = SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf");
  const std::string ref_path = SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf");
  test::TempDir dir;
  const std::string out = dir.file("q4km.gguf");
  QuantizeResult r = run(src, out, "Q4_K_M");

  GgufReader ours(out), ref(ref_path);
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    const auto& a = ours.tensors()[i];
    const auto& b = ref.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape) << a.name;
    EXPECT_EQ(type_name(a.type), type_name(b.type)) << a.name;
    EXPECT_EQ(a.offset, b.offset) << a.name;
  }
  // Same types and metadata keys: byte-for-byte the same size as llama.cpp's file.
  EXPECT_EQ(file_size(out), file_size(ref_path));
  EXPECT_EQ(ours.data_offset(), ref.data_offset());
  EXPECT_EQ(ours.metadata().get_u64("general.file_type", 0), 15u);
  EXPECT_EQ(ours.metadata().get_u64("general.quantization_version", 0), 2u);
  for (const auto& [key, value] : ref.metadata().entries())
    EXPECT_TRUE(ours.metadata().contains(key)) << key;
  // Same metadata in the same order, same tensor order and offsets: the whole
  // header (everything before the tensor data) is byte-identical to llama.cpp's.
  const std::string ours_bytes = test::read_text_file(out), ref_bytes = test::read_text_file(ref_path);
  EXPECT_TRUE(ours_bytes.compare(0, ref.data_offset(), ref_bytes, 0, ref.data_offset()) == 0)
      << "header differs from llama.cpp's";

  // The result describes the run.
  EXPECT_EQ(r.output_file_bytes, file_size(out));
  EXPECT_EQ(r.source_file_bytes, file_size(src));
  EXPECT_EQ(r.parameters, 23075328u);
  EXPECT_EQ(r.file_type, 15u);
  EXPECT_EQ(r.fallbacks, 0);
  EXPECT_EQ(r.tensors.size(), ref.tensors().size());
  EXPECT_NEAR(r.bits_per_weight, 8.0 * double(r.output_tensor_bytes) / 23075328.0, 1e-9);
  EXPECT_GT(r.bits_per_weight, 4.5);
  EXPECT_LT(r.bits_per_weight, 5.5);
  EXPECT_NEAR(r.size_ratio, double(file_size(src)) / double(file_size(out)), 1e-9);
  EXPECT_GT(r.peak_rss_bytes, 0u);
  EXPECT_GT(r.seconds, 0.0);
  std::string summary = format_summary(r);
  EXPECT_NE(summary.find("bits per weight"), std::string::npos) << summary;
  EXPECT_NE(summary.find("peak memory"), std::string::npos) << summary;

  // Per-tensor error: our reported RMSE is the real one, and no worse than
  // llama.cpp's quantization of the same tensor (measured here independently).
  GgufReader bf16(src);
  for (const TensorResult& t : r.tensors) {
    if (t.shape.size() < 2) {
      EXPECT_FALSE(t.converted) << t.name;  // F32 norms copied
      EXPECT_EQ(t.relative_rmse, 0.0);
      continue;
    }
    const auto source = dequantize(*bf16.find_tensor(t.name));
    const double ours_rmse = relative_rmse(source, dequantize(*ours.find_tensor(t.name)));
    const double llama_rmse = relative_rmse(source, dequantize(*ref.find_tensor(t.name)));
    EXPECT_NEAR(t.relative_rmse, ours_rmse, 1e-6 * ours_rmse + 1e-9) << t.name;
    EXPECT_LE(ours_rmse, llama_rmse * 1.001) << t.name;
    EXPECT_GT(ours_rmse, 0.0) << t.name;
  }
}

TEST_SHARED(QuantizeModel, FileSizeOfEveryLlamaCppPreset) {
  // File sizes llama.cpp's llama-quantize produced (reference table). The
  // type map of every preset in that table is checked in presets_test (fast);
  // this runs the whole pipeline on presets that together use the other
  // block formats (Q8_0, Q6_K, Q5_1, IQ4_XS, Q2_K, Q3_K, Q4_K).
  const std::string src = SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf");
  const std::map<std::string, uint64_t> expected = {
      {"Q8_0", 24667808}, {"Q5_1", 17606304}, {"IQ4_XS", 13018784}, {"Q2_K", 9477792},
  };
  test::TempDir dir;
  for (const auto& [preset, bytes] : expected) {
    const std::string out = dir.file(preset + ".gguf");
    QuantizeResult r = run(src, out, preset);
    EXPECT_EQ(file_size(out), bytes) << preset;
    for (const TensorResult& t : r.tensors) EXPECT_LT(t.relative_rmse, 0.5) << preset << " " << t.name;
    std::filesystem::remove(out);
  }
}

TEST_SHARED(QuantizeModel, HfFolderGivesSameLayoutAndBytes) {
  const std::string gguf = SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf");
  const std::string folder = SHARED_FILE("models/gutenberg23m");
  const std::string ref_path = SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf");
  test::TempDir dir;
  run(gguf, dir.file("from_gguf.gguf"), "Q4_K_M");
  QuantizeResult r = run(folder, dir.file("from_hf.gguf"), "Q4_K_M");
  GgufReader a(dir.file("from_gguf.gguf")), b(dir.file("from_hf.gguf")), ref(ref_path);
  ASSERT_EQ(b.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    EXPECT_EQ(b.tensors()[i].name, ref.tensors()[i].name);
    EXPECT_EQ(b.tensors()[i].shape, ref.tensors()[i].shape);
    EXPECT_EQ(type_name(b.tensors()[i].type), type_name(ref.tensors()[i].type)) << b.tensors()[i].name;
    EXPECT_EQ(b.tensors()[i].offset, ref.tensors()[i].offset);
  }
  // The BF16 values are the same and q/k rows are permuted on the way in, so
  // every tensor's bytes match the GGUF-source run.
  for (const auto& t : b.tensors()) {
    const GgufTensorInfo* other = a.find_tensor(t.name);
    ASSERT_NE(other, nullptr) << t.name;
    ASSERT_EQ(t.bytes, other->bytes);
    EXPECT_EQ(std::memcmp(t.data, other->data, t.bytes), 0) << t.name;
  }
  EXPECT_EQ(r.parameters, 23075328u);
  EXPECT_EQ(r.output_tensor_bytes, file_size(ref_path) - ref.data_offset())
      << "tensor data must be as large as llama.cpp's (all tensor sizes are multiples of 32)";
}

TEST_SHARED(QuantizeModel, Stories260KFallbacksAndThreads) {
  const std::string src = SHARED_FILE("models/stories260K.gguf");
  test::TempDir dir;
  QuantizeOptions one;
  one.threads = 1;
  QuantizeResult r1 = run(src, dir.file("t1.gguf"), "Q4_K_M", one);
  QuantizeOptions two;
  two.threads = 2;
  QuantizeResult r2 = run(src, dir.file("t2.gguf"), "Q4_K_M", two);
  set_thread_count(0);
  EXPECT_EQ(r2.threads, 2);
  EXPECT_EQ(test::read_text_file(dir.file("t1.gguf")), test::read_text_file(dir.file("t2.gguf")))
      << "output must not depend on the thread count";
  EXPECT_EQ(r1.fallbacks, 36);
  GgufReader out(dir.file("t1.gguf"));
  EXPECT_EQ(out.find_tensor("output.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(out.find_tensor("token_embd.weight")->type, GgmlType::Q5_0);
  EXPECT_EQ(out.find_tensor("blk.2.attn_v.weight")->type, GgmlType::Q8_0);
  EXPECT_EQ(out.find_tensor("blk.0.ffn_down.weight")->type, GgmlType::F16);
  EXPECT_EQ(out.find_tensor("blk.0.ffn_norm.weight")->type, GgmlType::F32);
  GgufReader in(src);
  for (const TensorResult& t : r1.tensors) {
    const auto source = dequantize(*in.find_tensor(t.name));
    const auto back = dequantize(*out.find_tensor(t.name));
    const double e = relative_rmse(source, back);
    EXPECT_NEAR(t.relative_rmse, e, 1e-6 * e + 1e-9) << t.name;
    const double limit = t.type == GgmlType::F16 ? 1e-3 : t.type == GgmlType::F32 ? 0.0 : 0.1;
    EXPECT_LE(e, limit) << t.name << " " << type_name(t.type);
  }
}

TEST_SHARED(QuantizeModel, FloatPresetsDequantize) {
  const std::string q4 = SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf");
  test::TempDir dir;
  QuantizeResult r = run(q4, dir.file("f32.gguf"), "F32");
  GgufReader in(q4), out(dir.file("f32.gguf"));
  EXPECT_EQ(out.metadata().get_u64("general.file_type", 99), 0u);
  for (const auto& t : out.tensors()) {
    ASSERT_EQ(t.type, GgmlType::F32) << t.name;
    const auto expect = dequantize(*in.find_tensor(t.name));
    ASSERT_EQ(std::memcmp(t.data, expect.data(), t.bytes), 0) << t.name << ": F32 must be the exact dequantization";
  }
  for (const TensorResult& t : r.tensors) EXPECT_EQ(t.relative_rmse, 0.0) << t.name;
  EXPECT_EQ(r.parameters * 4, r.output_tensor_bytes);

  run(q4, dir.file("f16.gguf"), "F16");
  GgufReader f16(dir.file("f16.gguf"));
  EXPECT_EQ(f16.find_tensor("blk.0.attn_q.weight")->type, GgmlType::F16);
  EXPECT_EQ(f16.find_tensor("output.weight")->type, GgmlType::F16);
  EXPECT_EQ(f16.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
  EXPECT_EQ(f16.metadata().get_u64("general.file_type", 99), 1u);
}

TEST_SHARED(QuantizeModel, ImatrixIsUsedAndRecorded) {
  const std::string src = SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf");
  const std::string imatrix = SHARED_FILE("golden/imatrix/gutenberg23m.imatrix.dat");
  test::TempDir dir;
  QuantizeOptions opt;
  opt.imatrix_path = imatrix;
  QuantizeResult r = run(src, dir.file("im.gguf"), "Q4_K_M", opt);
  EXPECT_EQ(r.imatrix_tensors, 42);  // every layer matrix; the file has no token_embd/output entries
  GgufReader out(dir.file("im.gguf"));
  EXPECT_EQ(out.metadata().get_string("quantize.imatrix.file"), imatrix);
  EXPECT_EQ(out.metadata().get_string("quantize.imatrix.dataset"), "text/calibration_gutenberg.txt");
  EXPECT_EQ(out.metadata().at("quantize.imatrix.entries_count").as_i64(), 42);
  EXPECT_EQ(out.metadata().at("quantize.imatrix.chunks_count").as_i64(), 282);
  // llama.cpp's file with this imatrix: 14,147,488 bytes; only the length of
  // the recorded imatrix path differs, so the sizes agree within the header slack.
  EXPECT_NEAR(double(file_size(dir.file("im.gguf"))), 14147488.0, 14147488.0 * 0.01);
  GgufReader ref(SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf"));
  for (const auto& t : ref.tensors()) EXPECT_EQ(out.find_tensor(t.name)->type, t.type) << t.name;
}

// A small llama-shaped GGUF with one bad value.
std::string write_model_with(const test::TempDir& dir, float bad_value) {
  const std::string path = dir.file("bad.gguf");
  GgufWriter w(path);
  w.metadata().set("general.architecture", GgufValue::string("llama"));
  w.metadata().set("llama.block_count", GgufValue::u32(1));
  w.metadata().set("llama.attention.head_count", GgufValue::u32(2));
  w.add_tensor("token_embd.weight", {256, 4}, GgmlType::F32);
  w.add_tensor("blk.0.attn_q.weight", {256, 8}, GgmlType::F32);
  w.add_tensor("blk.0.attn_norm.weight", {256}, GgmlType::F32);
  w.begin_data();
  std::vector<float> emb(256 * 4, 0.25f), q(256 * 8, -0.5f), norm(256, 1.0f);
  q[3 * 256 + 17] = bad_value;
  w.write_tensor_data(emb.data(), emb.size() * 4);
  w.write_tensor_data(q.data(), q.size() * 4);
  w.write_tensor_data(norm.data(), norm.size() * 4);
  w.finish();
  return path;
}

TEST(QuantizeModel, NanWeightsFailNamingTheTensor) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    test::TempDir dir;
    const std::string src = write_model_with(dir, bad);
    const std::string out = dir.file("out.gguf");
    try {
      run(src, out, "Q4_K_M");
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("blk.0.attn_q.weight"), std::string::npos) << msg;
      EXPECT_NE(msg.find("row 3"), std::string::npos) << msg;
      EXPECT_NE(msg.find("column 17"), std::string::npos) << msg;
    }
    EXPECT_FALSE(std::filesystem::exists(out));
    // Nothing but the input is left (no temporary file).
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
    EXPECT_EQ(files, 1);
    // Also when the tensor is only copied (F32 preset keeps F32).
    EXPECT_THROW(run(src, out, "F32"), Error);
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

TEST(QuantizeModel, SmallModelAllPresetsRoundTrip) {
  test::TempDir dir;
  const std::string src = write_model_with(dir, 0.75f);
  for (const Preset& p : all_presets()) {
    const std::string out = dir.file(std::string(p.name) + ".gguf");
    QuantizeResult r = run(src, out, p.name);
    GgufReader g(out);
    EXPECT_EQ(g.metadata().get_u64("general.file_type", 999), p.file_type) << p.name;
    EXPECT_EQ(g.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32) << p.name;
    EXPECT_EQ(r.tensors.size(), 3u);
  }
}

TEST(QuantizeModel, RefusesOutputEqualToInputAndUnknownPreset) {
  test::TempDir dir;
  const std::string src = write_model_with(dir, 0.75f);
  const std::string before = test::read_text_file(src);
  try {
    run(src, src, "Q4_K_M");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input"), std::string::npos) << e.what();
  }
  EXPECT_EQ(test::read_text_file(src), before);
  // The same file through another spelling of its path.
  EXPECT_THROW(run(src, dir.path() + "/./bad.gguf", "Q4_K_M"), Error);
  EXPECT_EQ(test::read_text_file(src), before);
  try {
    run(src, dir.file("x.gguf"), "Q4_K_Z");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K_Z"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.gguf")));
}

TEST(QuantizeModel, ImatrixWithWrongRowLengthFails) {
  test::TempDir dir;
  const std::string src = write_model_with(dir, 0.75f);
  // A legacy imatrix file with a 128-value entry for a 256-weight tensor.
  const std::string im = dir.file("bad.imatrix");
  {
    std::FILE* f = std::fopen(im.c_str(), "wb");
    auto i32 = [&](int32_t v) { std::fwrite(&v, 4, 1, f); };
    i32(1);
    const std::string name = "blk.0.attn_q.weight";
    i32(int32_t(name.size()));
    std::fwrite(name.data(), 1, name.size(), f);
    i32(1);
    i32(128);
    std::vector<float> v(128, 1.0f);
    std::fwrite(v.data(), 4, v.size(), f);
    std::fclose(f);
  }
  QuantizeOptions opt;
  opt.imatrix_path = im;
  try {
    run(src, dir.file("o.gguf"), "Q4_K_M", opt);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.gguf")));
}

}  // namespace
}  // namespace lowbit::quant
