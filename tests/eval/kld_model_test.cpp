// KLD on real models: a model against itself is exactly 0 with 100% same
// top token; llama.cpp's Q4_K_M and our Q8_0 against BF16 land where
// llama.cpp's own table (reference/llamacpp/gutenberg23m-quality.md) puts
// them; a saved base-logits file reproduces the in-run numbers; models with
// different vocabularies are refused.
#include <gtest/gtest.h>

#include <cmath>

#include "common/shared_data.h"
#include "core/error.h"
#include "eval/kld.h"
#include "eval/kld_file.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "model/session.h"
#include "quant/quantize_model.h"
#include "tokenizer/tokenizer.h"

namespace lowbit::eval {
namespace {

const char* kBf16 = "models/gutenberg23m-BF16.llamacpp.gguf";
const char* kQ4KM = "models/gutenberg23m-Q4_K_M.llamacpp.gguf";
const char* kSignOfFour = "text/gutenberg_sign_of_four.txt";

struct Loaded {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<model::Session> session;
};

Loaded load(const std::string& path, const ChunkPlan& plan) {
  Loaded l;
  l.model = model::Model::open(path);
  model::SessionOptions so;
  so.n_ctx = plan.n_fed();
  so.n_batch = plan.n_fed();
  l.session = std::make_unique<model::Session>(*l.model, so);
  return l;
}

std::vector<int32_t> tokens_of(const std::string& model_path, const std::string& text_path) {
  auto source = ModelSource::open(model_path);
  return tokenize_text_file(text_path, Tokenizer::from_metadata(source->metadata()));
}

TEST_SHARED(KldModel, SelfIsExactlyZero) {
  const std::string path = SHARED_FILE("models/qwen2tiny");
  const std::vector<int32_t> text = tokens_of(path, SHARED_FILE(kSignOfFour));
  const ChunkPlan plan = make_chunk_plan(PplConvention::SecondHalf, 256, int64_t(text.size()), 4, -1, false);
  Loaded base = load(path, plan), quant = load(path, plan);
  const KldRun run = measure_kld(base.session.get(), nullptr, *quant.session, text, plan, nullptr);
  const KldSummary& s = run.summary;
  EXPECT_EQ(s.count, 4 * 128);
  EXPECT_EQ(s.kld.mean, 0.0);
  EXPECT_EQ(s.kld_max, 0.0);
  EXPECT_EQ(s.same_top.mean, 1.0);
  EXPECT_EQ(s.rms_delta_p.mean, 0.0);
  EXPECT_EQ(s.ppl_base.mean, s.ppl_quant.mean);
  EXPECT_DOUBLE_EQ(s.ppl_ratio.mean, 1.0);
}

TEST_SHARED(KldModel, DifferentVocabulariesAreRefused) {
  const std::string g = SHARED_FILE(kBf16), q = SHARED_FILE("models/qwen2tiny");
  const std::vector<int32_t> text = tokens_of(q, SHARED_FILE(kSignOfFour));
  const ChunkPlan plan = make_chunk_plan(PplConvention::SecondHalf, 256, int64_t(text.size()), 1, -1, false);
  Loaded base = load(g, plan), quant = load(q, plan);
  try {
    measure_kld(base.session.get(), nullptr, *quant.session, text, plan, nullptr);
    FAIL() << "no error comparing a 4096-token vocab with a 3072-token one";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocabulary of 4096 tokens"), std::string::npos) << e.what();
  }
}

// Q4_K_M (made by llama.cpp) against BF16 on the first chunks of the text;
// then the same from a saved base-logits file.
TEST_SHARED(KldModel, Q4KMAgainstBf16AndSavedBase) {
  const std::string bf16 = SHARED_FILE(kBf16), q4 = SHARED_FILE(kQ4KM);
  const std::vector<int32_t> text = tokens_of(bf16, SHARED_FILE(kSignOfFour));
  const ChunkPlan plan = make_chunk_plan(PplConvention::LlamaCpp, 256, int64_t(text.size()), 12, 0, false);
  Loaded base = load(bf16, plan), quant = load(q4, plan);
  test::TempDir dir;
  const std::string file = dir.file("base.lbkld");
  KldRun in_run;
  {
    BaseLogitsWriter writer(file, plan, text, base.model->config().n_vocab, model_size_info(base.model->source()), {});
    in_run = measure_kld(base.session.get(), nullptr, *quant.session, text, plan, &writer);
    writer.commit();
  }
  const KldSummary& s = in_run.summary;
  // llama.cpp, 120 chunks: mean KLD 0.021220, same top 89.84%. 12 chunks
  // carry a standard error of about 10% on the KLD and 1 point on same-top.
  std::printf("  Q4_K_M vs BF16, 12 chunks: KLD %.6f ± %.6f, same top %.2f ± %.2f%%, PPL %.3f -> %.3f\n", s.kld.mean,
              s.kld.error, 100 * s.same_top.mean, 100 * s.same_top.error, s.ppl_base.mean, s.ppl_quant.mean);
  EXPECT_NEAR(s.kld.mean, 0.0212, 0.006);
  EXPECT_NEAR(s.same_top.mean, 0.8984, 0.03);
  EXPECT_GT(s.ppl_quant.mean, s.ppl_base.mean * 0.99);

  BaseLogitsReader reader(file);
  const KldRun from_file = measure_kld(nullptr, &reader, *quant.session, text, plan, nullptr);
  const KldSummary& f = from_file.summary;
  EXPECT_EQ(f.count, s.count);
  EXPECT_NEAR(f.kld.mean, s.kld.mean, 1e-3 * s.kld.mean);
  EXPECT_NEAR(f.kld_median, s.kld_median, 1e-2 * s.kld_median);
  EXPECT_NEAR(f.kld_p99, s.kld_p99, 1e-3 * s.kld_p99);
  EXPECT_EQ(f.same_top.mean, s.same_top.mean);
  EXPECT_NEAR(f.ppl_base.mean, s.ppl_base.mean, 1e-5 * s.ppl_base.mean);
  EXPECT_DOUBLE_EQ(f.ppl_quant.mean, s.ppl_quant.mean);
  EXPECT_NEAR(f.rms_delta_p.mean, s.rms_delta_p.mean, 1e-3 * s.rms_delta_p.mean);

  // The file refuses another text's tokens and a model with another vocab.
  std::vector<int32_t> other = text;
  other[300] = other[300] == 5 ? 6 : 5;
  EXPECT_THROW(measure_kld(nullptr, &reader, *quant.session, other, plan, nullptr), Error);
  Loaded qwen = load(SHARED_FILE("models/qwen2tiny"), plan);
  EXPECT_THROW(measure_kld(nullptr, &reader, *qwen.session, text, plan, nullptr), Error);
}

// Our own Q8_0 of the BF16 GGUF: llama.cpp's Q8_0 has KLD 0.000439 and 98.47%
// same top over 120 chunks.
TEST_SHARED(KldModel, OurQ8_0AgainstBf16) {
  const std::string bf16 = SHARED_FILE(kBf16);
  test::TempDir dir;
  quant::QuantizeOptions qo;
  qo.preset = "Q8_0";
  qo.progress = false;
  auto source = ModelSource::open(bf16);
  quant::quantize_model(*source, dir.file("q8.gguf"), qo);
  const std::vector<int32_t> text = tokens_of(bf16, SHARED_FILE(kSignOfFour));
  const ChunkPlan plan = make_chunk_plan(PplConvention::LlamaCpp, 256, int64_t(text.size()), 6, 0, false);
  Loaded base = load(bf16, plan), quant = load(dir.file("q8.gguf"), plan);
  const KldSummary s = measure_kld(base.session.get(), nullptr, *quant.session, text, plan, nullptr).summary;
  std::printf("  our Q8_0 vs BF16, 6 chunks: KLD %.6f, same top %.2f%%\n", s.kld.mean, 100 * s.same_top.mean);
  EXPECT_LT(s.kld.mean, 0.0015);
  EXPECT_GT(s.kld.mean, 0.0);
  EXPECT_GT(s.same_top.mean, 0.95);
}

// The llama.cpp table's own setting: 120 chunks of sign_of_four.
TEST_SHARED(KldModel, Q4KMAgainstBf16LlamaCppSettingSlow) {
  const std::string bf16 = SHARED_FILE(kBf16), q4 = SHARED_FILE(kQ4KM);
  const std::vector<int32_t> text = tokens_of(bf16, SHARED_FILE(kSignOfFour));
  const ChunkPlan plan = make_chunk_plan(PplConvention::LlamaCpp, 256, int64_t(text.size()), 120, 0, false);
  Loaded base = load(bf16, plan), quant = load(q4, plan);
  const KldSummary s = measure_kld(base.session.get(), nullptr, *quant.session, text, plan, nullptr).summary;
  std::printf("  Q4_K_M vs BF16, 120 chunks: PPL %.3f -> %.3f, KLD %.6f, same top %.2f%%\n", s.ppl_base.mean,
              s.ppl_quant.mean, s.kld.mean, 100 * s.same_top.mean);
  EXPECT_NEAR(s.ppl_base.mean, 33.858, 33.858 * 0.001);
  EXPECT_NEAR(s.ppl_quant.mean, 34.161, 34.161 * 0.002);
  EXPECT_NEAR(s.kld.mean, 0.021220, 0.001);
  EXPECT_NEAR(s.same_top.mean, 0.8984, 0.005);
}

}  // namespace
}  // namespace lowbit::eval
