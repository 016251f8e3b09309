// bench: a short run on qwen2tiny gives positive speeds, a decode byte count
// that matches the model's tensors, and parseable JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "core/error.h"
#include "eval/bench.h"
#include "model/model.h"

namespace lowbit::eval {
namespace {

TEST(Bench, Median) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(median({4, 1, 2, 3}), 2.5);
  EXPECT_DOUBLE_EQ(median({}), 0.0);
}

TEST_SHARED(Bench, ShortRunOnQwen2Tiny) {
  auto model = model::Model::open(SHARED_FILE("models/qwen2tiny"));
  // qwen2tiny ties its output to token_embd: a decode step reads every
  // tensor once (norms as stored, here the tiny difference F16 vs F32 copies)
  // plus one more embedding row.
  const ModelSource& src = model->source();
  const TensorView& embd = src.at("token_embd.weight");
  const double expected = double(src.tensor_bytes()) + double(embd.row_bytes());
  EXPECT_NEAR(double(decode_bytes_per_token(*model)), expected, expected * 0.01);

  BenchOptions o;
  o.prompt = 32;
  o.gen = 8;
  o.repeat = 2;
  o.bandwidth_bytes = size_t(64) << 20;
  const BenchResult r = run_bench(*model, o);
  ASSERT_EQ(r.prefill_tps.size(), 2u);
  ASSERT_EQ(r.decode_tps.size(), 2u);
  EXPECT_GT(r.prefill_tps_median, 0);
  EXPECT_GT(r.decode_tps_median, 0);
  EXPECT_GT(r.machine_gbps, 0);
  // One probe before each decode run, each run's ratio against its own probe.
  ASSERT_EQ(r.machine_gbps_runs.size(), 2u);
  ASSERT_EQ(r.bandwidth_ratio_runs.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(r.bandwidth_ratio_runs[i],
                double(r.decode_bytes_per_token) * r.decode_tps[i] / 1e9 / r.machine_gbps_runs[i], 1e-12);
  EXPECT_NEAR(r.bandwidth_ratio(), (r.bandwidth_ratio_runs[0] + r.bandwidth_ratio_runs[1]) / 2, 1e-12);
  EXPECT_NEAR(r.decode_gbps, double(r.decode_bytes_per_token) * r.decode_tps_median / 1e9, 1e-9);
  const auto j = nlohmann::json::parse(render_bench_json(r));
  EXPECT_EQ(j["prompt_tokens"], 32);
  EXPECT_DOUBLE_EQ(j["decode_tokens_per_s"].get<double>(), r.decode_tps_median);
  EXPECT_NE(render_bench_text(r).find("decode / machine"), std::string::npos);

  o.prompt = 0;
  o.gen = 0;
  EXPECT_THROW(run_bench(*model, o), Error);
}

}  // namespace
}  // namespace lowbit::eval
