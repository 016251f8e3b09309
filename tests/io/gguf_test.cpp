// GGUF reader and writer on real files from ../shared: known counts, typed
// metadata, and a read -> write round trip that must be byte-identical.
#include <gtest/gtest.h>

#include <cstring>

#include "common/shared_data.h"
#include "core/error.h"
#include "io/gguf.h"

namespace lowbit {
namespace {

// Writes every metadata entry and tensor of `in` to `out_path` unchanged.
void copy_gguf(const GgufReader& in, const std::string& out_path) {
  GgufWriter w(out_path, {in.path()});
  for (const auto& [k, v] : in.metadata().entries()) w.metadata().set(k, v);
  for (const auto& t : in.tensors()) w.add_tensor(t.name, t.shape, t.type);
  w.begin_data();
  for (const auto& t : in.tensors()) w.write_tensor_data(t.data, t.bytes);
  w.finish();
}

TEST_SHARED(Gguf, ReadsStories260K) {
  GgufReader r(SHARED_FILE("models/stories260K.gguf"));
  EXPECT_EQ(r.version(), 3u);
  EXPECT_EQ(r.architecture(), "llama");
  ASSERT_EQ(r.tensors().size(), 48u);
  int64_t params = 0;
  for (const auto& t : r.tensors()) {
    EXPECT_EQ(t.type, GgmlType::F32) << t.name;
    params += t.element_count();
  }
  EXPECT_EQ(params, 292800);
  EXPECT_EQ(r.metadata().get_u64("llama.embedding_length", 0), 64u);
  EXPECT_EQ(r.metadata().get_u64("llama.block_count", 0), 5u);
  EXPECT_EQ(r.metadata().get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(r.metadata().at("tokenizer.ggml.tokens").as_string_vector().size(), 512u);
  EXPECT_EQ(r.metadata().at("tokenizer.ggml.scores").as_f32_vector().size(), 512u);
  const GgufTensorInfo* emb = r.find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{64, 512}));
}

TEST_SHARED(Gguf, ReadsLlamaCppFiles) {
  GgufReader bf16(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  int64_t params = 0;
  for (const auto& t : bf16.tensors()) params += t.element_count();
  EXPECT_EQ(params, 23075328);
  EXPECT_EQ(bf16.find_tensor("blk.0.attn_q.weight")->type, GgmlType::BF16);
  EXPECT_EQ(bf16.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);

  GgufReader q4(SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf"));
  EXPECT_EQ(q4.tensors().size(), bf16.tensors().size());
  EXPECT_EQ(q4.metadata().get_u64("general.file_type", 0), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  std::set<GgmlType> types;
  for (const auto& t : q4.tensors()) types.insert(t.type);
  EXPECT_TRUE(types.count(GgmlType::Q4_K));
  EXPECT_TRUE(types.count(GgmlType::Q6_K));
}

void expect_round_trip_identical(const std::string& path) {
  test::TempDir dir;
  GgufReader in(path);
  std::string out = dir.file("copy.gguf");
  copy_gguf(in, out);
  std::string a = test::read_text_file(path), b = test::read_text_file(out);
  ASSERT_EQ(a.size(), b.size()) << path;
  EXPECT_TRUE(a == b) << path << ": round trip differs";
  GgufReader again(out);
  EXPECT_EQ(again.tensors().size(), in.tensors().size());
}

TEST_SHARED(Gguf, RoundTripIsByteIdentical) {
  expect_round_trip_identical(SHARED_FILE("models/stories260K.gguf"));
  expect_round_trip_identical(SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf"));
  expect_round_trip_identical(SHARED_FILE("golden/quant/Q4_K.gguf"));
  expect_round_trip_identical(SHARED_FILE("vocab/ggml-vocab-gpt-2.gguf"));
}

TEST(Gguf, WriterRefusesToOverwriteInput) {
  test::TempDir dir;
  std::string path = dir.file("a.gguf");
  {
    GgufWriter w(path);
    w.metadata().set("general.architecture", GgufValue::string("llama"));
    w.finish();
  }
  EXPECT_THROW(GgufWriter(path, {path}), Error);
}

TEST(Gguf, WriterLeavesNothingWhenNotFinished) {
  test::TempDir dir;
  std::string path = dir.file("b.gguf");
  {
    GgufWriter w(path);
    w.add_tensor("t", {32}, GgmlType::F32);
    w.begin_data();
    float x[8] = {};
    w.write_tensor_data(x, sizeof x);  // 32 bytes of 128: never finished
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Gguf, AllValueTypesAndNestedArraysRoundTrip) {
  test::TempDir dir;
  std::string path = dir.file("types.gguf");
  GgufArray inner;
  inner.elem_type = GgufType::ARRAY;
  inner.nested = {GgufValue::i32_array({1, 2, 3}), GgufValue::string_array({"x", "y"})};
  inner.count = inner.nested.size();
  {
    GgufWriter w(path);
    auto& m = w.metadata();
    m.set("u8", GgufValue::u8(200));
    m.set("i8", GgufValue::i8(-100));
    m.set("u16", GgufValue::u16(60000));
    m.set("i16", GgufValue::i16(-30000));
    m.set("u32", GgufValue::u32(4000000000u));
    m.set("i32", GgufValue::i32(-2000000000));
    m.set("f32", GgufValue::f32(1.5f));
    m.set("bool", GgufValue::boolean(true));
    m.set("str", GgufValue::string("hello"));
    m.set("u64", GgufValue::u64(1ull << 60));
    m.set("i64", GgufValue::i64(-(1ll << 60)));
    m.set("f64", GgufValue::f64(0.125));
    m.set("nested", GgufValue::array(inner));
    w.add_tensor("w", {64, 2}, GgmlType::Q8_0);
    w.begin_data();
    std::vector<uint8_t> bytes(2 * 2 * 34, 7);
    w.write_tensor_data(bytes.data(), bytes.size());
    w.finish();
  }
  GgufReader r(path);
  const auto& m = r.metadata();
  EXPECT_EQ(m.at("u8").as_u64(), 200u);
  EXPECT_EQ(m.at("i8").as_i64(), -100);
  EXPECT_EQ(m.at("u16").as_u64(), 60000u);
  EXPECT_EQ(m.at("i16").as_i64(), -30000);
  EXPECT_EQ(m.at("u32").as_u64(), 4000000000u);
  EXPECT_EQ(m.at("i32").as_i64(), -2000000000);
  EXPECT_EQ(m.at("f32").as_f64(), 1.5);
  EXPECT_TRUE(m.at("bool").as_bool());
  EXPECT_EQ(m.at("str").as_string(), "hello");
  EXPECT_EQ(m.at("u64").as_u64(), 1ull << 60);
  EXPECT_EQ(m.at("i64").as_i64(), -(1ll << 60));
  EXPECT_EQ(m.at("f64").as_f64(), 0.125);
  const GgufArray& nested = m.at("nested").as_array();
  ASSERT_EQ(nested.count, 2u);
  EXPECT_EQ(nested.nested[0].as_i64_vector(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(nested.nested[1].as_string_vector(), (std::vector<std::string>{"x", "y"}));
  ASSERT_EQ(r.tensors().size(), 1u);
  EXPECT_EQ(r.tensors()[0].bytes, 136u);
  EXPECT_EQ(r.tensors()[0].data[0], 7);
  EXPECT_THROW(m.at("str").as_u64(), Error);
  EXPECT_THROW(m.at("missing"), Error);
}

}  // namespace
}  // namespace lowbit
