// LlamaConfig from small hand-made GGUF files: RoPE scaling keys, the
// rope_freqs tensor (llama3 scaling as llama.cpp stores it) and rejections.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "common/shared_data.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/model_source.h"
#include "model/llama_config.h"

namespace lowbit::model {
namespace {

// A llama header (embd 8, 2 heads, 1 layer) with token_embd, blk.0.attn_q
// and optionally rope_freqs (2 pairs per head of 4); `extra` adds keys.
std::string write_model(const test::TempDir& dir, const std::function<void(GgufMetadata&)>& extra,
                        const std::vector<float>& rope_freqs = {}) {
  const std::string path = dir.file("m.gguf");
  GgufWriter w(path);
  GgufMetadata& m = w.metadata();
  m.set("general.architecture", GgufValue::string("llama"));
  m.set("llama.embedding_length", GgufValue::u32(8));
  m.set("llama.block_count", GgufValue::u32(1));
  m.set("llama.attention.head_count", GgufValue::u32(2));
  m.set("llama.feed_forward_length", GgufValue::u32(16));
  extra(m);
  w.add_tensor("token_embd.weight", {8, 3}, GgmlType::F32);
  w.add_tensor("blk.0.attn_q.weight", {8, 8}, GgmlType::F32);
  if (!rope_freqs.empty()) w.add_tensor("rope_freqs.weight", {int64_t(rope_freqs.size())}, GgmlType::F32);
  w.begin_data();
  std::vector<float> zeros(64, 0.0f);
  w.write_tensor_data(zeros.data(), 24 * 4);
  w.write_tensor_data(zeros.data(), 64 * 4);
  if (!rope_freqs.empty()) w.write_tensor_data(rope_freqs.data(), rope_freqs.size() * 4);
  w.finish();
  return path;
}

LlamaConfig config_of(const std::string& path) { return LlamaConfig::from_source(*ModelSource::open(path)); }

TEST(LlamaConfig, DefaultsAndDerivedSizes) {
  test::TempDir dir;
  const LlamaConfig c = config_of(write_model(dir, [](GgufMetadata&) {}));
  EXPECT_EQ(c.n_head_kv, 2);  // defaults to head_count
  EXPECT_EQ(c.head_dim, 4);
  EXPECT_EQ(c.n_rot, 4);
  EXPECT_EQ(c.n_vocab, 3);
  EXPECT_TRUE(c.tied_output);
  EXPECT_EQ(c.rope_scaling, RopeScaling::None);
  EXPECT_EQ(c.rope_layout, RopeLayout::AdjacentPairs);
}

TEST(LlamaConfig, LinearScalingAndFrequencyTensor) {
  test::TempDir dir;
  const LlamaConfig c = config_of(write_model(
      dir,
      [](GgufMetadata& m) {
        m.set("llama.rope.scaling.type", GgufValue::string("linear"));
        m.set("llama.rope.scaling.factor", GgufValue::f32(4.0f));
      },
      {1.0f, 8.0f}));
  EXPECT_EQ(c.rope_scaling, RopeScaling::Linear);
  EXPECT_DOUBLE_EQ(c.rope_scale_factor, 4.0);
  EXPECT_EQ(c.rope_freq_factors, (std::vector<float>{1.0f, 8.0f}));
}

TEST(LlamaConfig, Llama3ScalingKeys) {
  test::TempDir dir;
  const LlamaConfig c = config_of(write_model(dir, [](GgufMetadata& m) {
    m.set("llama.rope.scaling.type", GgufValue::string("llama3"));
    m.set("llama.rope.scaling.factor", GgufValue::f32(8.0f));
    m.set("llama.rope.scaling.original_context_length", GgufValue::u32(8192));
    m.set("llama.rope.scaling.low_freq_factor", GgufValue::f32(1.0f));
    m.set("llama.rope.scaling.high_freq_factor", GgufValue::f32(4.0f));
  }));
  EXPECT_EQ(c.rope_scaling, RopeScaling::Llama3);
  EXPECT_EQ(c.rope_original_context, 8192);
  EXPECT_DOUBLE_EQ(c.rope_high_freq_factor, 4.0);
}

void expect_error_mentions(const std::string& path, const std::string& needle) {
  try {
    config_of(path);
    ADD_FAILURE() << "accepted; expected an error mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(LlamaConfig, RejectionsNameTheProblem) {
  {
    test::TempDir dir;
    expect_error_mentions(write_model(dir, [](GgufMetadata& m) {
      m.set("llama.rope.scaling.type", GgufValue::string("yarn"));
    }), "yarn");
  }
  {
    test::TempDir dir;
    expect_error_mentions(write_model(dir, [](GgufMetadata& m) {
      m.set("llama.attention.head_count_kv", GgufValue::u32(3));
    }), "head_count_kv");
  }
  {
    test::TempDir dir;
    expect_error_mentions(write_model(dir, [](GgufMetadata&) {}, {1.0f, 2.0f, 3.0f}), "rope_freqs.weight");
  }
  {
    test::TempDir dir;
    expect_error_mentions(write_model(dir, [](GgufMetadata& m) {
      m.set("llama.embedding_length", GgufValue::u32(16));  // token_embd rows are 8 long
    }), "token_embd.weight");
  }
}

}  // namespace
}  // namespace lowbit::model
