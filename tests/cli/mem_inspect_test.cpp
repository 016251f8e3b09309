// `lowbit mem` and `lowbit inspect` end to end, through the built binary.
// Expected figures are independent arithmetic: 7e9 weights x 4 bytes = 28 GB
// (F32), x 2 = 14 GB (F16), x 34/32 bytes (Q8_0 block of 32) = 7.4375 GB,
// x 18/32 (Q4_0) = 3.9375 GB.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "common/shared_data.h"

namespace lowbit {
namespace {

using test::run_lowbit;

// Returns the "weights GB" column of the row for `format` in mem's table.
double weights_gb(const std::string& out, const std::string& format) {
  std::regex row("\\n" + format + "\\s+[0-9.]+\\s+([0-9.]+)");
  std::smatch m;
  if (!std::regex_search(out, m, row)) return -1;
  return std::stod(m[1]);
}

TEST(MemCommand, SevenBillionParameters) {
  auto r = run_lowbit("mem 7B");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NEAR(weights_gb(r.output, "F32"), 28.0, 0.001) << r.output;
  EXPECT_NEAR(weights_gb(r.output, "F16/BF16"), 14.0, 0.001);
  EXPECT_NEAR(weights_gb(r.output, "Q8_0"), 7.4375, 0.001);
  EXPECT_NEAR(weights_gb(r.output, "Q4_0"), 3.9375, 0.001);
  EXPECT_NEAR(weights_gb(r.output, "Q4_K"), 7.0 * 4.5 / 8, 0.001);  // 144 bytes per 256 weights
}

TEST(MemCommand, KvCacheAndBudget) {
  // Llama-2-7B shape: 32 layers x 32 KV heads x 128 dims x 2 (K,V) x 2 bytes
  // = 524288 bytes per token; 4096 tokens = 2.147 GB.
  auto r = run_lowbit("mem 7B --ctx 4096 --vram 8GB");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2.15 GB"), std::string::npos) << r.output;
  std::regex q4("\\nQ4_0 .* yes \\(");
  std::regex f16("\\nF16/BF16 .* no \\(");
  EXPECT_TRUE(std::regex_search(r.output, q4)) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, f16)) << r.output;
  auto q8kv = run_lowbit("mem 7B --ctx 4096 --kv-type q8_0");
  EXPECT_NE(q8kv.output.find("1.14 GB"), std::string::npos) << q8kv.output;  // x 34/64
}

TEST(MemCommand, RejectsNonsense) {
  auto r = run_lowbit("mem sevenB");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("sevenB"), std::string::npos);
  EXPECT_NE(run_lowbit("mem 7B --vram lots").exit_code, 0);
  EXPECT_NE(run_lowbit("mem 7B --kv-type q4").exit_code, 0);
}

TEST_SHARED(MemCommand, RealModelShape) {
  // gutenberg23m: 6 layers x 4 KV heads x 64 dims x 2 x 2 bytes = 6144 bytes
  // per token; 1024 tokens = 6291456 bytes = 0.006 GB.
  auto path = SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf");
  auto r = run_lowbit("mem " + path + " --ctx 1024");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("6 layers, hidden 512, 8 heads, 4 KV heads, head dim 64"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("23075328 parameters"), std::string::npos) << r.output;
}

TEST_SHARED(InspectCommand, GgufJson) {
  auto path = SHARED_FILE("models/stories260K.gguf");
  auto r = run_lowbit("inspect --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["parameters"], 292800);
  EXPECT_EQ(j["tensors"].size(), 48u);
  EXPECT_EQ(j["totals_by_type"]["F32"]["bytes"], 292800 * 4);
  // 64- and 172-wide rows: Q4_0 applies to the 64-wide ones only
  EXPECT_TRUE(j["weight_memory_by_format"].contains("Q4_0"));
}

TEST_SHARED(InspectCommand, QuantizedFileText) {
  auto path = SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf");
  auto r = run_lowbit("inspect " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("llama.block_count"), std::string::npos);
  EXPECT_NE(r.output.find("blk.0.attn_q.weight"), std::string::npos);
  EXPECT_NE(r.output.find("Q6_K"), std::string::npos);
  EXPECT_NE(r.output.find("23075328"), std::string::npos);
}

TEST_SHARED(InspectCommand, HuggingFaceFolder) {
  auto path = SHARED_FILE("models/gutenberg23m");
  auto r = run_lowbit("inspect --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["format"], "huggingface");
  EXPECT_EQ(j["parameters"], 23075328);
  EXPECT_EQ(j["totals_by_type"]["BF16"]["parameters"], 23075328);  // norms are BF16 there too
}

TEST(InspectCommand, MissingFileIsAClearError) {
  auto r = run_lowbit("inspect /nonexistent/model.gguf");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("/nonexistent/model.gguf"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace lowbit
