// Session behaviour on real models: chunked prefill, token-by-token decode
// and all-logits evaluation agree; the Q8_0 KV cache stays close to F16;
// context overflow, bad token ids and unsupported models give clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/shared_data.h"
#include "core/error.h"
#include "io/gguf.h"
#include "model/model.h"
#include "model/session.h"

namespace lowbit::model {
namespace {

float max_abs(const float* v, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(v[i]));
  return m;
}

float max_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

const std::vector<int32_t> kTokens = {0, 747, 314, 265, 1284, 285, 1482, 13, 324, 314, 265, 3812, 285, 1482, 13, 324, 314};

TEST_SHARED(Session, ChunkedPrefillDecodeAndAllLogitsAgree) {
  auto model = Model::open(SHARED_FILE("models/gutenberg23m"));
  const size_t nv = size_t(model->config().n_vocab), n = kTokens.size();
  Session whole(*model);
  const std::vector<float> all = whole.eval_all(kTokens);
  EXPECT_EQ(whole.n_past(), int64_t(n));

  SessionOptions small_batches;
  small_batches.n_batch = 5;
  Session chunked(*model, small_batches);
  const std::vector<float> chunk_all = chunked.eval_all(kTokens);
  EXPECT_LT(max_diff(all.data(), chunk_all.data(), all.size()), 1e-4f * max_abs(all.data(), all.size()));

  // One token at a time; every step's logits equal the matching row.
  Session stepwise(*model);
  for (size_t i = 0; i < n; ++i) {
    const std::vector<float> l = stepwise.eval(std::span<const int32_t>(&kTokens[i], 1));
    ASSERT_EQ(l.size(), nv);
    EXPECT_LT(max_diff(l.data(), all.data() + i * nv, nv), 1e-4f * max_abs(l.data(), nv)) << "position " << i;
  }
  // eval returns the last row of eval_all; reset starts over.
  stepwise.reset();
  EXPECT_EQ(stepwise.n_past(), 0);
  const std::vector<float> last = stepwise.eval(kTokens);
  EXPECT_LT(max_diff(last.data(), all.data() + (n - 1) * nv, nv), 1e-4f * max_abs(last.data(), nv));
}

// The engine's default reads the weights into memory (and packs them); a
// memory map of the same files must give bit-identical logits (GGUF file and
// HF folder).
TEST_SHARED(Session, MappedAndReadWeightsGiveTheSameLogits) {
  for (const char* rel : {"models/gutenberg23m-Q4_K_M.llamacpp.gguf", "models/gutenberg23m"}) {
    const std::string path = SHARED_FILE(rel);
    auto read = Model::open(path, FileAccess::Read);
    auto mapped = Model::open(path, FileAccess::Map);
    // Read weights are repacked for the AVX-512 VNNI kernels (Q4_K, Q6_K);
    // a map never is. The logits must not depend on it.
    EXPECT_EQ(mapped->packed_bytes(), 0u);
    if (cpu::has_packed_layout(GgmlType::Q4_K) && read->source().is_gguf()) {
      EXPECT_GT(read->packed_bytes(), 0u);
    }
    Session a(*read), b(*mapped);
    const std::vector<float> la = a.eval_all(kTokens), lb = b.eval_all(kTokens);
    ASSERT_EQ(la.size(), lb.size());
    EXPECT_EQ(max_diff(la.data(), lb.data(), la.size()), 0.0f) << rel;
  }
}

TEST_SHARED(Session, Q8KvCacheStaysCloseToF16) {
  auto model = Model::open(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  SessionOptions q8;
  q8.kv_type = KvType::Q8_0;
  Session a(*model), b(*model, q8);
  EXPECT_LT(b.kv_cache_bytes(), a.kv_cache_bytes());
  const std::vector<float> la = a.eval_all(kTokens), lb = b.eval_all(kTokens);
  const size_t nv = size_t(model->config().n_vocab);
  for (size_t p = 0; p < kTokens.size(); ++p)
    EXPECT_LT(max_diff(la.data() + p * nv, lb.data() + p * nv, nv), 2e-2f * max_abs(la.data() + p * nv, nv)) << p;
}

TEST_SHARED(Session, ContextOverflowIsAClearErrorAndKeepsState) {
  auto model = Model::open(SHARED_FILE("models/stories260K.gguf"));
  SessionOptions opt;
  opt.n_ctx = 8;
  Session s(*model, opt);
  std::vector<int32_t> prompt(9, 1);
  try {
    s.eval(prompt);
    FAIL() << "no error for a prompt longer than the context";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.n_past(), 0);
  s.eval(std::vector<int32_t>(5, 1));
  EXPECT_THROW(s.eval(std::vector<int32_t>(4, 1)), Error);
  EXPECT_EQ(s.n_past(), 5);
  EXPECT_NO_THROW(s.eval(std::vector<int32_t>(3, 1)));
  EXPECT_EQ(s.n_past(), 8);
}

TEST_SHARED(Session, TokenOutsideVocabularyIsAnError) {
  auto model = Model::open(SHARED_FILE("models/stories260K.gguf"));
  Session s(*model);
  EXPECT_THROW(s.eval(std::vector<int32_t>{1, 512}), Error);
  EXPECT_THROW(s.eval(std::vector<int32_t>{-3}), Error);
  EXPECT_EQ(s.n_past(), 0);
}

TEST_SHARED(Session, ConfigFromStories260K) {
  auto model = Model::open(SHARED_FILE("models/stories260K.gguf"));
  const LlamaConfig& c = model->config();
  EXPECT_EQ(c.architecture, "llama");
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_layer, 5);
  EXPECT_EQ(c.n_head, 8);
  EXPECT_EQ(c.n_head_kv, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.n_ff, 172);
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.rope_layout, RopeLayout::AdjacentPairs);
}

TEST_SHARED(Session, ConfigFromHfFolders) {
  auto llama = Model::open(SHARED_FILE("models/gutenberg23m"));
  EXPECT_EQ(llama->config().rope_layout, RopeLayout::HalfSplit);  // HF row order, used as is
  EXPECT_FALSE(llama->config().tied_output);
  auto qwen = Model::open(SHARED_FILE("models/qwen2tiny"));
  const LlamaConfig& c = qwen->config();
  EXPECT_EQ(c.architecture, "qwen2");
  EXPECT_EQ(c.rope_layout, RopeLayout::HalfSplit);
  EXPECT_TRUE(c.tied_output);
  EXPECT_TRUE(c.has_qkv_bias);
  EXPECT_DOUBLE_EQ(c.rope_base, 1e6);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_EQ(c.n_head_kv, 2);
}

TEST(Session, UnsupportedArchitectureIsNamed) {
  test::TempDir dir;
  const std::string path = dir.file("gpt2.gguf");
  {
    GgufWriter w(path);
    w.metadata().set("general.architecture", GgufValue::string("gpt2"));
    w.metadata().set("gpt2.embedding_length", GgufValue::u32(4));
    w.add_tensor("token_embd.weight", {4, 2}, GgmlType::F32);
    w.begin_data();
    const float zeros[8] = {};
    w.write_tensor_data(zeros, sizeof zeros);
    w.finish();
  }
  try {
    Model::open(path);
    FAIL() << "gpt2 accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gpt2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
  }
}

TEST(Session, MissingHyperParameterIsNamed) {
  test::TempDir dir;
  const std::string path = dir.file("broken.gguf");
  {
    GgufWriter w(path);
    w.metadata().set("general.architecture", GgufValue::string("llama"));
    w.metadata().set("llama.embedding_length", GgufValue::u32(4));
    w.add_tensor("token_embd.weight", {4, 2}, GgmlType::F32);
    w.begin_data();
    const float zeros[8] = {};
    w.write_tensor_data(zeros, sizeof zeros);
    w.finish();
  }
  try {
    Model::open(path);
    FAIL() << "model without block_count accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama.block_count"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lowbit::model
