// The engine against outside references in ../shared: transformers' float32
// logits and greedy tokens for gutenberg23m (HF folder and llama.cpp's BF16
// GGUF) and qwen2tiny (HF folder), and the Q4_K_M GGUF against BF16.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/shared_data.h"
#include "model/model.h"
#include "model/sampler.h"
#include "model/session.h"

namespace lowbit::model {
namespace {

struct Reference {
  nlohmann::json json;
  std::vector<int32_t> input_ids;
  std::vector<float> logits;  // [position][vocab]
  int64_t n_vocab = 0;
};

Reference load_reference(const std::string& dir) {
  Reference r;
  r.json = nlohmann::json::parse(test::read_text_file(dir + "/reference.json"));
  const auto& lg = r.json.at("logits");
  r.input_ids = lg.at("input_ids").get<std::vector<int32_t>>();
  const int64_t n_pos = lg.at("shape")[0].get<int64_t>();
  r.n_vocab = lg.at("shape")[1].get<int64_t>();
  EXPECT_EQ(n_pos, int64_t(r.input_ids.size()));
  const std::string raw = test::read_text_file(dir + "/" + lg.at("file").get<std::string>());
  EXPECT_EQ(raw.size(), size_t(n_pos * r.n_vocab) * 4);
  r.logits.resize(raw.size() / 4);
  std::memcpy(r.logits.data(), raw.data(), raw.size());
  return r;
}

// Largest |ours - ref| / max|ref| over the positions (each position scaled by
// its own largest reference logit).
double max_relative_logit_error(const std::vector<float>& ours, const Reference& ref) {
  const size_t nv = size_t(ref.n_vocab);
  double worst = 0;
  for (size_t p = 0; p < ref.input_ids.size(); ++p) {
    double scale = 0, err = 0;
    for (size_t i = 0; i < nv; ++i) {
      scale = std::max(scale, double(std::abs(ref.logits[p * nv + i])));
      err = std::max(err, double(std::abs(ours[p * nv + i] - ref.logits[p * nv + i])));
    }
    worst = std::max(worst, err / scale);
  }
  return worst;
}

std::vector<int32_t> greedy(Session& s, std::vector<int32_t> tokens, int n_new) {
  std::vector<float> logits = s.eval(tokens);
  for (int i = 0; i < n_new; ++i) {
    const int32_t t = argmax(logits);
    tokens.push_back(t);
    if (i + 1 < n_new) logits = s.eval(std::span<const int32_t>(&t, 1));
  }
  return tokens;
}

void check_against_reference(const std::string& model_path, const std::string& ref_dir, const char* greedy_prompt_key) {
  const Reference ref = load_reference(ref_dir);
  auto model = Model::open(model_path);
  ASSERT_EQ(model->config().n_vocab, ref.n_vocab);
  Session session(*model);
  const std::vector<float> logits = session.eval_all(ref.input_ids);
  const double err = max_relative_logit_error(logits, ref);
  std::printf("[ logits ] %s: max |logit error| / max |logit| = %.3g over %zu positions\n", model_path.c_str(), err,
              ref.input_ids.size());
  EXPECT_LT(err, 1e-3);

  const auto& g = ref.json.at("greedy");
  const auto prompt = g.at(greedy_prompt_key).get<std::vector<int32_t>>();
  const auto expected = g.at("output_ids_including_prompt").get<std::vector<int32_t>>();
  session.reset();
  const std::vector<int32_t> got = greedy(session, prompt, int(expected.size() - prompt.size()));
  EXPECT_EQ(got, expected);
}

TEST_SHARED(Reference, Gutenberg23mHfFolder) {
  check_against_reference(SHARED_FILE("models/gutenberg23m"), SHARED_FILE("reference/gutenberg23m"), "prompt_ids_with_bos");
}

TEST_SHARED(Reference, Gutenberg23mLlamaCppBf16Gguf) {
  check_against_reference(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"), SHARED_FILE("reference/gutenberg23m"),
                          "prompt_ids_with_bos");
}

TEST_SHARED(Reference, Qwen2TinyHfFolder) {
  check_against_reference(SHARED_FILE("models/qwen2tiny"), SHARED_FILE("reference/qwen2tiny"), "prompt_ids");
}

// llama.cpp's table (reference/llamacpp/gutenberg23m-quality.md) gives Q4_K_M
// 89.8% same top token and 0.021 mean KLD against BF16 on a long text.
TEST_SHARED(Reference, Gutenberg23mQ4KMStaysCloseToBf16) {
  const Reference ref = load_reference(SHARED_FILE("reference/gutenberg23m"));
  auto bf16 = Model::open(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  auto q4 = Model::open(SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf"));
  Session sb(*bf16), sq(*q4);
  const std::vector<float> lb = sb.eval_all(ref.input_ids), lq = sq.eval_all(ref.input_ids);
  const size_t nv = size_t(ref.n_vocab), n = ref.input_ids.size();
  int same_top = 0;
  double kld_sum = 0;
  for (size_t p = 0; p < n; ++p) {
    const float* a = lb.data() + p * nv;
    const float* b = lq.data() + p * nv;
    same_top += argmax({a, nv}) == argmax({b, nv});
    const double ma = *std::max_element(a, a + nv), mb = *std::max_element(b, b + nv);
    double za = 0, zb = 0;
    for (size_t i = 0; i < nv; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    double kld = 0;
    for (size_t i = 0; i < nv; ++i) {
      const double la = a[i] - ma - std::log(za), lqv = b[i] - mb - std::log(zb);
      kld += std::exp(la) * (la - lqv);
    }
    kld_sum += kld;
  }
  const double agree = double(same_top) / double(n), kld = kld_sum / double(n);
  std::printf("[ q4_k_m ] same top token %.1f%%, mean KLD %.4f over %zu positions\n", 100 * agree, kld, n);
  EXPECT_GE(agree, 0.8);
  EXPECT_LT(kld, 0.1);
}

}  // namespace
}  // namespace lowbit::model
