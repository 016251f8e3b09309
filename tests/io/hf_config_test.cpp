// config.json reading: the two real models (values from ../shared/README.md
// and their config files) and hand-written configs for the RoPE variants,
// checked against llama.cpp's key names and an independent float64
// computation of the llama3 factors.
#include <gtest/gtest.h>

#include <cmath>

#include "common/shared_data.h"
#include "hf_test_util.h"
#include "io/hf_config.h"

using namespace lowbit;
using namespace lowbit::test;

TEST_SHARED(HfConfig, Gutenberg23m) {
  HfConfig c = read_hf_config(SHARED_FILE("models/gutenberg23m"));
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.hidden_size, 512);
  EXPECT_EQ(c.n_layer, 6);
  EXPECT_EQ(c.n_head, 8);
  EXPECT_EQ(c.n_head_kv, 4);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.intermediate_size, 1536);
  EXPECT_EQ(c.vocab_size, 4096);
  EXPECT_EQ(c.max_position_embeddings, 1024);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);  // from rope_parameters
  EXPECT_EQ(c.rope_type, "default");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_id, 1);

  GgufMetadata m;
  add_hf_config_metadata(c, 32, m);
  EXPECT_EQ(m.at("llama.block_count").as_u64(), 6u);
  EXPECT_EQ(m.at("llama.context_length").as_u64(), 1024u);
  EXPECT_EQ(m.at("llama.rope.dimension_count").as_u64(), 64u);
  EXPECT_EQ(m.at("llama.vocab_size").as_u64(), 4096u);
  EXPECT_EQ(m.at("llama.attention.key_length").as_u64(), 64u);  // head_dim is in config.json
  EXPECT_FLOAT_EQ(float(m.at("llama.rope.freq_base").as_f64()), 10000.0f);
  EXPECT_EQ(m.at("llama.attention.layer_norm_rms_epsilon").type(), GgufType::FLOAT32);
  EXPECT_EQ(m.at("general.file_type").as_u64(), 32u);
  EXPECT_FALSE(m.contains("llama.rope.scaling.type"));
  EXPECT_TRUE(llama3_rope_factors(c).empty());
}

TEST_SHARED(HfConfig, Qwen2Tiny) {
  HfConfig c = read_hf_config(SHARED_FILE("models/qwen2tiny/config.json"));
  EXPECT_EQ(c.arch, "qwen2");
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.n_layer, 4);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim, 64);  // hidden / heads (not in config.json)
  EXPECT_FALSE(c.head_dim_given);
  EXPECT_EQ(c.intermediate_size, 768);
  EXPECT_EQ(c.vocab_size, 3072);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.attention_bias);
  GgufMetadata m;
  add_hf_config_metadata(c, 1, m);
  EXPECT_EQ(m.at("qwen2.embedding_length").as_u64(), 256u);
  EXPECT_FLOAT_EQ(float(m.at("qwen2.rope.freq_base").as_f64()), 1e6f);
  EXPECT_FALSE(m.contains("qwen2.vocab_size"));  // llama.cpp writes it for llama only
  EXPECT_FALSE(m.contains("qwen2.attention.key_length"));
}

namespace {
std::string llama_config(const std::string& extra) {
  return R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-05)" + extra + "}";
}
}  // namespace

TEST(HfConfig, Llama31RopeScaling) {
  TempDir d;
  write_bytes(d.file("config.json"), llama_config(R"(, "rope_theta": 500000.0, "rope_scaling": {"factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "eos_token_id": [128001, 128008, 128009])"));
  HfConfig c = read_hf_config(d.path());
  EXPECT_EQ(c.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_original_context, 8192);
  EXPECT_EQ(c.eos_token_id, 128001);
  std::vector<float> f = llama3_rope_factors(c);
  ASSERT_EQ(f.size(), 64u);
  // Independent float64 evaluation of Meta's formula.
  for (int i = 0; i < 64; ++i) {
    double freq = 1.0 / std::pow(500000.0, 2.0 * i / 128.0);
    double wavelen = 2 * M_PI / freq;
    double want;
    if (wavelen < 8192.0 / 4) want = 1;
    else if (wavelen > 8192.0 / 1) want = 8;
    else {
      double smooth = (8192.0 / wavelen - 1) / (4 - 1);
      want = 1 / ((1 - smooth) / 8 + smooth);
    }
    EXPECT_NEAR(f[size_t(i)], want, 1e-4 * want) << i;
  }
  EXPECT_EQ(f.front(), 1.0f);
  EXPECT_EQ(f.back(), 8.0f);
  GgufMetadata m;
  add_hf_config_metadata(c, 1, m);
  EXPECT_FALSE(m.contains("llama.rope.scaling.type"));  // llama.cpp uses the rope_freqs tensor instead
}

TEST(HfConfig, LinearAndYarnScaling) {
  TempDir d;
  write_bytes(d.file("config.json"), llama_config(R"(, "rope_parameters": {"rope_theta": 20000.0,
    "rope_type": "linear", "factor": 4.0})"));
  HfConfig c = read_hf_config(d.path());
  GgufMetadata m;
  add_hf_config_metadata(c, 0, m);
  EXPECT_EQ(m.at("llama.rope.scaling.type").as_string(), "linear");
  EXPECT_FLOAT_EQ(float(m.at("llama.rope.scaling.factor").as_f64()), 4.0f);
  EXPECT_FLOAT_EQ(float(m.at("llama.rope.freq_base").as_f64()), 20000.0f);

  write_bytes(d.file("config.json"), R"({"model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 32768,
    "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})");
  c = read_hf_config(d.path());
  GgufMetadata q;
  add_hf_config_metadata(c, 0, q);
  EXPECT_EQ(q.at("qwen2.rope.scaling.type").as_string(), "yarn");
  EXPECT_EQ(q.at("qwen2.rope.scaling.original_context_length").as_u64(), 32768u);
  EXPECT_EQ(c.n_head_kv, 4);  // defaults to the head count
}

TEST(HfConfig, Errors) {
  TempDir d;
  auto err = [&](const std::string& text) {
    write_bytes(d.file("config.json"), text);
    std::string e = error_of([&] { read_hf_config(d.path()); });
    EXPECT_NE(e.find(d.file("config.json")), std::string::npos) << e;
    return e;
  };
  EXPECT_NE(err(R"({"model_type": "llama", "hidden_size": )").find("malformed JSON"), std::string::npos);
  EXPECT_NE(err(R"({"model_type": "gpt_neox"})").find("gpt_neox"), std::string::npos);
  EXPECT_NE(err(R"({"model_type": "llama"})").find("hidden_size"), std::string::npos);
  EXPECT_NE(err(llama_config(R"(, "num_key_value_heads": 5)")).find("num_key_value_heads"), std::string::npos);
  EXPECT_NE(err(llama_config(R"(, "hidden_size": "big")")).find("hidden_size"), std::string::npos);
  EXPECT_NE(err(llama_config(R"(, "rope_scaling": {"type": "dynamic", "factor": 2.0})")).find("dynamic"),
            std::string::npos);
  EXPECT_NE(err(llama_config(R"(, "rms_norm_eps": -1)")).find("rms_norm_eps"), std::string::npos);
  EXPECT_NE(err("[]").find("JSON object"), std::string::npos);
  std::string e = error_of([&] { read_hf_config(d.file("nothing")); });
  EXPECT_NE(e.find("nothing"), std::string::npos);
}

TEST(HfConfig, SizeLabel) {
  // llama.cpp's rounding: at least two significant digits.
  EXPECT_EQ(size_label(23075328), "23M");
  EXPECT_EQ(size_label(292800), "293K");
  EXPECT_EQ(size_label(3900000), "3.9M");
  EXPECT_EQ(size_label(7241732096ull), "7.2B");
  EXPECT_EQ(size_label(70553706496ull), "71B");
}
