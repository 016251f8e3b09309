// Unit tests of the perplexity / KLD math on hand-made inputs whose results
// are known in closed form: log-softmax, chunk plans, NLL statistics, KL
// divergence, percentiles, and the KLD summary.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "eval/kld.h"
#include "eval/perplexity.h"

namespace lowbit::eval {
namespace {

std::vector<float> log_of(const std::vector<double>& p) {
  std::vector<float> v;
  for (double x : p) v.push_back(float(std::log(x)));
  return v;
}

TEST(LogSoftmax, KnownProbabilities) {
  // logits log(1..4) -> probabilities 1/10 .. 4/10, whatever the offset.
  for (float offset : {0.0f, 1000.0f, -500.0f}) {
    std::vector<float> logits;
    for (int i = 1; i <= 4; ++i) logits.push_back(float(std::log(double(i))) + offset);
    std::vector<float> out(4);
    log_softmax(logits.data(), 4, out.data());
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(log_softmax_at(logits.data(), 4, i), std::log((i + 1) / 10.0), 1e-4) << "offset " << offset;
      EXPECT_NEAR(out[size_t(i)], std::log((i + 1) / 10.0), 1e-4);
    }
  }
  std::vector<float> logits(4, 0.0f);
  EXPECT_THROW(log_softmax_at(logits.data(), 4, 4), Error);
  EXPECT_THROW(log_softmax_at(logits.data(), 4, -1), Error);
}

TEST(NllStats, PerplexityAndError) {
  NllStats s;
  for (int i = 0; i < 5; ++i) s.add(std::log(10.0));
  EXPECT_NEAR(s.ppl(), 10.0, 1e-12);
  EXPECT_NEAR(s.ppl_error(), 0.0, 1e-9);
  NllStats t;
  t.add(std::log(2.0));
  t.add(std::log(8.0));
  // mean nll = ln 4; population variance (ln 2)^2; error = 4 * ln 2 / sqrt(1).
  EXPECT_NEAR(t.ppl(), 4.0, 1e-12);
  EXPECT_NEAR(t.ppl_error(), 4.0 * std::log(2.0), 1e-9);
}

std::vector<int32_t> iota_tokens(int n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), 100);
  return t;
}

TEST(ChunkPlan, Conventions) {
  const std::vector<int32_t> text = iota_tokens(1000);
  ChunkPlan p = make_chunk_plan(PplConvention::SecondHalf, 256, 1000, 0, 7, false);
  EXPECT_EQ(p.n_chunks, 3);
  EXPECT_EQ(p.n_fed(), 256);
  EXPECT_EQ(p.first_scored, 128);
  EXPECT_EQ(p.n_scored, 128);
  std::vector<int32_t> c1 = p.chunk_tokens(text, 1);
  ASSERT_EQ(c1.size(), 256u);
  EXPECT_EQ(c1[0], 100 + 256);
  EXPECT_EQ(c1[255], 100 + 511);

  p = make_chunk_plan(PplConvention::BosAll, 256, 1000, 0, 7, false);
  EXPECT_EQ(p.n_chunks, 3);
  EXPECT_EQ(p.n_fed(), 257);
  EXPECT_EQ(p.first_scored, 1);
  EXPECT_EQ(p.n_scored, 256);
  c1 = p.chunk_tokens(text, 1);
  ASSERT_EQ(c1.size(), 257u);
  EXPECT_EQ(c1[0], 7);
  EXPECT_EQ(c1[1], 100 + 256);
  EXPECT_EQ(c1[256], 100 + 511);

  p = make_chunk_plan(PplConvention::AllButFirst, 256, 1000, 2, 7, false);
  EXPECT_EQ(p.n_chunks, 2);  // limited by max_chunks
  EXPECT_EQ(p.first_scored, 1);
  EXPECT_EQ(p.n_scored, 255);

  // llama-perplexity without BOS: chunks as-is, tokens 129..255 scored.
  p = make_chunk_plan(PplConvention::LlamaCpp, 256, 1000, 0, 7, false);
  EXPECT_EQ(p.n_chunks, 3);
  EXPECT_EQ(p.first_scored, 129);
  EXPECT_EQ(p.n_scored, 127);
  EXPECT_EQ(p.chunk_tokens(text, 2)[0], 100 + 512);
  // With a BOS-adding vocab the stream is BOS + text and slot 0 is BOS.
  p = make_chunk_plan(PplConvention::LlamaCpp, 256, 1023, 0, 7, true);
  EXPECT_EQ(p.n_chunks, 4);  // (1023 + 1) / 256
  c1 = p.chunk_tokens(std::vector<int32_t>(iota_tokens(1023)), 1);
  ASSERT_EQ(c1.size(), 256u);
  EXPECT_EQ(c1[0], 7);
  EXPECT_EQ(c1[1], 100 + 256);  // stream[257] = text[256]
  EXPECT_EQ(c1[255], 100 + 510);
  const std::vector<int32_t> last = p.chunk_tokens(iota_tokens(1023), 3);
  EXPECT_EQ(last[255], 100 + 1022);
}

TEST(ChunkPlan, BadInputs) {
  EXPECT_THROW(make_chunk_plan(PplConvention::SecondHalf, 256, 0, 0, 1, false), Error);
  try {
    make_chunk_plan(PplConvention::SecondHalf, 256, 255, 0, 1, false);
    FAIL() << "no error for a text shorter than one chunk";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than one 256-token chunk"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_chunk_plan(PplConvention::BosAll, 256, 1000, 0, -1, false), Error);  // no BOS
  EXPECT_THROW(make_chunk_plan(PplConvention::SecondHalf, 1, 1000, 0, 1, false), Error);
}

TEST(ScoreChunk, ScoresTheRightPositions) {
  // vocab 4; row r's logits make token (r % 4) have probability 0.7, the rest 0.1.
  const int64_t V = 4;
  ChunkPlan p = make_chunk_plan(PplConvention::SecondHalf, 4, 4, 0, -1, false);
  std::vector<float> logits(16);
  for (int r = 0; r < 4; ++r)
    for (int v = 0; v < 4; ++v) logits[size_t(r * V + v)] = float(std::log(v == r % 4 ? 0.7 : 0.1));
  // fed tokens 0,1,2,3: scored j = 2, 3, predicted by rows 1, 2. Row 1 puts
  // 0.7 on token 1 (fed[2] = 2 gets 0.1); row 2 puts 0.7 on token 2 (fed[3] = 3 gets 0.1).
  std::vector<int32_t> fed = {0, 1, 2, 3};
  NllStats s;
  score_chunk(p, fed, logits.data(), V, s);
  EXPECT_EQ(s.count, 2);
  EXPECT_NEAR(s.mean(), -std::log(0.1), 1e-5);
  fed = {0, 0, 1, 2};  // now each scored token is its row's favourite
  NllStats t;
  score_chunk(p, fed, logits.data(), V, t);
  EXPECT_NEAR(t.mean(), -std::log(0.7), 1e-5);
}

TEST(Kld, KnownDivergence) {
  const std::vector<float> base = log_of({0.7, 0.2, 0.1}), quant = log_of({0.6, 0.3, 0.1});
  const PositionComparison c = compare_distributions(base.data(), quant.data(), 3, 1);
  const double expected = 0.7 * std::log(0.7 / 0.6) + 0.2 * std::log(0.2 / 0.3);
  EXPECT_NEAR(c.kld, expected, 1e-6);
  EXPECT_TRUE(c.same_top);
  EXPECT_NEAR(c.p_base, 0.2, 1e-6);
  EXPECT_NEAR(c.p_quant, 0.3, 1e-6);
  EXPECT_NEAR(c.nll_base, -std::log(0.2), 1e-6);

  const std::vector<float> flipped = log_of({0.3, 0.6, 0.1});
  const PositionComparison d = compare_distributions(base.data(), flipped.data(), 3, 0);
  EXPECT_FALSE(d.same_top);
  EXPECT_NEAR(d.kld, 0.7 * std::log(0.7 / 0.3) + 0.2 * std::log(0.2 / 0.6), 1e-6);

  const PositionComparison self = compare_distributions(base.data(), base.data(), 3, 2);
  EXPECT_EQ(self.kld, 0.0);
  EXPECT_TRUE(self.same_top);
}

TEST(Percentile, MatchesLinearInterpolation) {
  const std::vector<double> v = {1, 2, 3, 4, 5};
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0.5), 3.0);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0.9), 4.6);  // numpy.percentile([1..5], 90)
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 1.0), 5.0);
  const std::vector<double> one = {7};
  EXPECT_DOUBLE_EQ(percentile_sorted(one, 0.99), 7.0);
}

TEST(KldSummary, HandMadeComparisons) {
  KldAccumulator acc;
  // Four positions with KLD 0.1, 0.2, 0.3, 0.4; 3 of 4 same top; p_base 0.5,
  // p_quant 0.5 + {0.1, -0.1, 0.1, -0.1}; nll_quant = nll_base + ln 2 on all.
  for (int i = 0; i < 4; ++i) {
    PositionComparison c;
    c.kld = 0.1 * (i + 1);
    c.same_top = i != 3;
    c.p_base = 0.5;
    c.p_quant = 0.5 + (i % 2 ? -0.1 : 0.1);
    c.nll_base = 1.0 + i;
    c.nll_quant = c.nll_base + std::log(2.0);
    acc.add(c);
  }
  const KldSummary s = acc.summary();
  EXPECT_EQ(s.count, 4);
  EXPECT_NEAR(s.kld.mean, 0.25, 1e-12);
  // sample std of {.1,.2,.3,.4} is 0.1291; standard error 0.1291 / 2.
  EXPECT_NEAR(s.kld.error, std::sqrt(0.0125 / 3.0), 1e-9);
  EXPECT_NEAR(s.kld_median, 0.25, 1e-12);
  EXPECT_NEAR(s.kld_max, 0.4, 1e-12);
  EXPECT_NEAR(s.kld_p90, 0.37, 1e-12);
  EXPECT_NEAR(s.same_top.mean, 0.75, 1e-12);
  EXPECT_NEAR(s.same_top.error, std::sqrt(0.75 * 0.25 / 3.0), 1e-12);
  EXPECT_NEAR(s.delta_p.mean, 0.0, 1e-12);
  EXPECT_NEAR(s.rms_delta_p.mean, 0.1, 1e-12);
  EXPECT_NEAR(s.ppl_ratio.mean, 2.0, 1e-9);
  EXPECT_NEAR(s.ln_ppl_ratio.error, 0.0, 1e-9);
  EXPECT_NEAR(s.ppl_base.mean, std::exp(2.5), 1e-9);
  EXPECT_NEAR(s.ppl_quant.mean, 2 * std::exp(2.5), 1e-9);
  EXPECT_NEAR(s.ppl_delta.mean, std::exp(2.5), 1e-9);
  EXPECT_NEAR(s.ln_ppl_correlation, 1.0, 1e-9);
}

}  // namespace
}  // namespace lowbit::eval
