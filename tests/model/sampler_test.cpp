// Sampler: greedy choice, reproducibility from the seed, and that draws
// follow softmax(logits / T) restricted by top-k and top-p.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "model/sampler.h"

namespace lowbit::model {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f};

TEST(Sampler, TemperatureZeroIsArgmaxFirstOnTies) {
  Sampler s({0.0f, 40, 0.95f, 1});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(kLogits), 1);
  EXPECT_EQ(argmax(kLogits), 1);
}

TEST(Sampler, SameSeedSameTokens) {
  Sampler a({1.0f, 0, 1.0f, 42}), b({1.0f, 0, 1.0f, 42}), c({1.0f, 0, 1.0f, 43});
  std::vector<int32_t> ta, tb, tc;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(a.sample(kLogits));
    tb.push_back(b.sample(kLogits));
    tc.push_back(c.sample(kLogits));
  }
  EXPECT_EQ(ta, tb);
  EXPECT_NE(ta, tc);
}

TEST(Sampler, TopKOneIsGreedy) {
  Sampler s({2.0f, 1, 1.0f, 5});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(kLogits), 1);
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  const float temp = 1.5f;
  Sampler s({temp, 0, 1.0f, 9});
  const int n = 200000;
  std::map<int32_t, int> counts;
  for (int i = 0; i < n; ++i) ++counts[s.sample(kLogits)];
  double z = 0;
  for (float l : kLogits) z += std::exp(l / temp);
  for (size_t i = 0; i < kLogits.size(); ++i) {
    const double p = std::exp(kLogits[i] / temp) / z;
    EXPECT_NEAR(double(counts[int32_t(i)]) / n, p, 0.01) << "token " << i;
  }
}

TEST(Sampler, TopKAndTopPRestrictTheChoice) {
  // top-k 3: only ids 1, 3 (logit 3) and 2 (logit 2) can come out.
  Sampler k3({1.0f, 3, 1.0f, 1});
  for (int i = 0; i < 2000; ++i) {
    int32_t t = k3.sample(kLogits);
    EXPECT_TRUE(t == 1 || t == 3 || t == 2) << t;
  }
  // Probabilities at T=1: ids 1 and 3 hold 0.38 each; top-p 0.6
  // keeps the smallest prefix reaching it: both, never id 2.
  Sampler p({1.0f, 0, 0.6f, 2});
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) ++counts[p.sample(kLogits)];
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], 800);
  EXPECT_GT(counts[3], 800);
}

}  // namespace
}  // namespace lowbit::model
