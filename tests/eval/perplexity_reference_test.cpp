// Perplexity of the real models in ../shared against transformers' values in
// reference/<model>/reference.json (within 0.1%). Conventions that feed the
// same tokens (all_but_first and second_half; second_half and llamacpp
// without BOS) are scored from one pass over the text. Whole-text runs of
// gutenberg23m take minutes on two cores: those tests end in "Slow".
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "core/error.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "model/session.h"
#include "tokenizer/tokenizer.h"

namespace lowbit::eval {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

struct Scored {
  std::vector<ChunkPlan> plans;
  std::vector<NllStats> stats;
};

// One pass over the text (every plan must feed the same tokens), scoring
// each plan. max_chunks <= 0: the whole text.
Scored score_plans(const model::Model& model, const std::vector<int32_t>& text,
                   const std::vector<PplConvention>& conventions, int32_t bos, int64_t max_chunks = 0) {
  Scored s;
  for (PplConvention c : conventions) s.plans.push_back(make_chunk_plan(c, 256, int64_t(text.size()), max_chunks, bos, false));
  s.stats.resize(s.plans.size());
  const ChunkPlan& first = s.plans[0];
  model::SessionOptions so;
  so.n_ctx = first.n_fed();
  so.n_batch = first.n_fed();
  model::Session session(model, so);
  for (int64_t k = 0; k < first.n_chunks; ++k) {
    const std::vector<int32_t> fed = first.chunk_tokens(text, k);
    session.reset();
    const std::vector<float> logits = session.eval_all(fed);
    for (size_t p = 0; p < s.plans.size(); ++p) {
      EXPECT_EQ(s.plans[p].chunk_tokens(text, k), fed);
      score_chunk(s.plans[p], fed, logits.data(), session.n_vocab(), s.stats[p]);
    }
  }
  return s;
}

// Tokenizes the text with the model's tokenizer and checks it against the
// reference ids (tokenizer parity is tested elsewhere; here it guards the
// perplexity comparison).
std::vector<int32_t> text_tokens(const model::Model& model, const std::string& text_name, const std::string& ids_path) {
  const Tokenizer tok = Tokenizer::from_metadata(model.source().metadata());
  const std::vector<int32_t> ids = tokenize_text_file(SHARED_FILE("text/" + text_name), tok);
  const std::vector<int32_t> want = read_json(ids_path).get<std::vector<int32_t>>();
  EXPECT_EQ(ids, want) << "tokenizer output differs from " << ids_path;
  return want;
}

void expect_ppl(const NllStats& s, const nlohmann::json& ref, const std::string& what) {
  EXPECT_EQ(s.count, ref["scored"].get<int64_t>()) << what;
  const double want = ref["ppl"].get<double>();
  EXPECT_NEAR(s.ppl(), want, want * 1e-3) << what;
  std::printf("  %-50s PPL %.4f (reference %.4f, %+.4f%%)\n", what.c_str(), s.ppl(), want, 100 * (s.ppl() / want - 1));
}

// qwen2tiny: no BOS; all_but_first and second_half from one pass.
void check_qwen2tiny(const std::string& text_name) {
  auto model = model::Model::open(SHARED_FILE("models/qwen2tiny"));
  const nlohmann::json ref = read_json(SHARED_FILE("reference/qwen2tiny/reference.json"))["perplexity"][text_name];
  const std::string stem = text_name.substr(0, text_name.size() - 4);
  const std::vector<int32_t> text = text_tokens(*model, text_name, SHARED_FILE("reference/qwen2tiny/ids/" + stem + ".ids.json"));
  ASSERT_EQ(int64_t(text.size()), ref["tokens"].get<int64_t>());
  const Scored s = score_plans(*model, text, {PplConvention::AllButFirst, PplConvention::SecondHalf}, -1);
  EXPECT_EQ(s.plans[0].n_chunks, ref["chunks"].get<int64_t>());
  expect_ppl(s.stats[0], ref["all_but_first"], "qwen2tiny " + text_name + " all_but_first");
  expect_ppl(s.stats[1], ref["second_half"], "qwen2tiny " + text_name + " second_half");
}

TEST_SHARED(PerplexityReference, Qwen2TinySignOfFour) { check_qwen2tiny("gutenberg_sign_of_four.txt"); }
TEST_SHARED(PerplexityReference, Qwen2TinySignOfFourCrlfSlow) { check_qwen2tiny("gutenberg_sign_of_four_crlf.txt"); }
TEST_SHARED(PerplexityReference, Qwen2TinyTinyStoriesSlow) { check_qwen2tiny("tinystories_val_sample.txt"); }

// gutenberg23m: second_half (no BOS) and bos_all (BOS + 256) need two passes.
void check_gutenberg23m(const std::string& model_path, const std::string& text_name) {
  auto model = model::Model::open(SHARED_FILE(model_path));
  const nlohmann::json ref =
      read_json(SHARED_FILE("reference/gutenberg23m/reference.json"))["perplexity"]["texts"][text_name];
  const std::string stem = text_name.substr(0, text_name.size() - 4);
  const std::vector<int32_t> text =
      text_tokens(*model, text_name, SHARED_FILE("reference/gutenberg23m/ids/" + stem + ".ids.json"));
  ASSERT_EQ(int64_t(text.size()), ref["tokens"].get<int64_t>());
  const int32_t bos = Tokenizer::from_metadata(model->source().metadata()).bos();
  ASSERT_EQ(bos, 0);
  const Scored half = score_plans(*model, text, {PplConvention::SecondHalf}, bos);
  EXPECT_EQ(half.plans[0].n_chunks, ref["second_half"]["chunks"].get<int64_t>());
  expect_ppl(half.stats[0], ref["second_half"], model_path + " " + text_name + " second_half");
  const Scored all = score_plans(*model, text, {PplConvention::BosAll}, bos);
  expect_ppl(all.stats[0], ref["bos_all"], model_path + " " + text_name + " bos_all");
}

TEST_SHARED(PerplexityReference, Gutenberg23mGgufSignOfFourSlow) {
  check_gutenberg23m("models/gutenberg23m-BF16.llamacpp.gguf", "gutenberg_sign_of_four.txt");
}
TEST_SHARED(PerplexityReference, Gutenberg23mHfSignOfFourSlow) {
  check_gutenberg23m("models/gutenberg23m", "gutenberg_sign_of_four.txt");
}
TEST_SHARED(PerplexityReference, Gutenberg23mGgufCrlfSlow) {
  check_gutenberg23m("models/gutenberg23m-BF16.llamacpp.gguf", "gutenberg_sign_of_four_crlf.txt");
}
TEST_SHARED(PerplexityReference, Gutenberg23mGgufTinyStoriesSlow) {
  check_gutenberg23m("models/gutenberg23m-BF16.llamacpp.gguf", "tinystories_val_sample.txt");
}

// A text file that is empty or shorter than one chunk gives a clear error.
TEST_SHARED(PerplexityInput, EmptyAndShortTexts) {
  auto model = model::Model::open(SHARED_FILE("models/qwen2tiny"));
  const Tokenizer tok = Tokenizer::from_metadata(model->source().metadata());
  test::TempDir dir;
  {
    std::ofstream(dir.file("empty.txt"));
    std::ofstream(dir.file("short.txt")) << "It was a dark and stormy night.";
  }
  try {
    tokenize_text_file(dir.file("empty.txt"), tok);
    FAIL() << "no error for an empty text";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tokenize_text_file(dir.file("missing.txt"), tok), Error);
  const std::vector<int32_t> ids = tokenize_text_file(dir.file("short.txt"), tok);
  try {
    make_chunk_plan(PplConvention::SecondHalf, 256, int64_t(ids.size()), 0, tok.bos(), tok.add_bos());
    FAIL() << "no error for a text shorter than one chunk";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than one 256-token chunk"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lowbit::eval
