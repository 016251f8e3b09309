// tokenizer.json -> GGUF tokenizer metadata: the three byte-level BPE
// families in ../shared (checked against llama.cpp's own conversion of
// gutenberg23m and the README's stated facts), SentencePiece-style
// tokenizers built here, and malformed input.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "common/shared_data.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/hf_tokenizer.h"

using namespace lowbit;
using lowbit::test::TempDir;

namespace {

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_SHARED(HfTokenizer, Gutenberg23mMatchesLlamaCpp) {
  auto folder = SHARED_FILE("models/gutenberg23m");
  GgufReader ref(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  GgufMetadata m = hf_tokenizer_metadata(folder);
  const GgufMetadata& r = ref.metadata();
  EXPECT_EQ(m.at("tokenizer.ggml.model").as_string(), "gpt2");
  EXPECT_EQ(m.at("tokenizer.ggml.pre").as_string(), r.at("tokenizer.ggml.pre").as_string());
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").as_string_vector(), r.at("tokenizer.ggml.tokens").as_string_vector());
  EXPECT_EQ(m.at("tokenizer.ggml.token_type").as_i64_vector(), r.at("tokenizer.ggml.token_type").as_i64_vector());
  EXPECT_EQ(m.at("tokenizer.ggml.merges").as_string_vector(), r.at("tokenizer.ggml.merges").as_string_vector());
  EXPECT_EQ(m.at("tokenizer.ggml.token_type").as_array().elem_type, GgufType::INT32);
  EXPECT_EQ(m.at("tokenizer.ggml.bos_token_id").as_u64(), r.at("tokenizer.ggml.bos_token_id").as_u64());
  EXPECT_EQ(m.at("tokenizer.ggml.eos_token_id").as_u64(), r.at("tokenizer.ggml.eos_token_id").as_u64());
  EXPECT_EQ(m.at("tokenizer.ggml.bos_token_id").type(), GgufType::UINT32);
  // The post-processor template puts <|bos|> first (llama.cpp b4747 did not
  // record this; HF's tokenizer adds BOS).
  EXPECT_TRUE(m.at("tokenizer.ggml.add_bos_token").as_bool());
  EXPECT_FALSE(m.at("tokenizer.ggml.add_eos_token").as_bool());
  EXPECT_FALSE(m.contains("tokenizer.ggml.padding_token_id"));
  EXPECT_FALSE(m.contains("tokenizer.ggml.scores"));
  // llama.cpp's key order.
  std::vector<std::string> keys;
  for (const auto& [k, v] : m.entries()) keys.push_back(k);
  std::vector<std::string> expect = {"tokenizer.ggml.model",        "tokenizer.ggml.pre",
                                     "tokenizer.ggml.tokens",       "tokenizer.ggml.token_type",
                                     "tokenizer.ggml.merges",       "tokenizer.ggml.bos_token_id",
                                     "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token",
                                     "tokenizer.ggml.add_eos_token"};
  EXPECT_EQ(keys, expect);
}

TEST_SHARED(HfTokenizer, Qwen2Tiny) {
  GgufMetadata m = hf_tokenizer_metadata(SHARED_FILE("models/qwen2tiny"));
  EXPECT_EQ(m.at("tokenizer.ggml.model").as_string(), "gpt2");
  EXPECT_EQ(m.at("tokenizer.ggml.pre").as_string(), "qwen2");
  auto tokens = m.at("tokenizer.ggml.tokens").as_string_vector();
  auto types = m.at("tokenizer.ggml.token_type").as_i64_vector();
  ASSERT_EQ(tokens.size(), 3072u);
  EXPECT_EQ(tokens[0], "<|endoftext|>");
  EXPECT_EQ(tokens[1], "<|im_start|>");
  EXPECT_EQ(types[0], 3);
  EXPECT_EQ(types[2], 3);
  EXPECT_EQ(types[3], 1);
  EXPECT_EQ(m.at("tokenizer.ggml.merges").as_string_vector().size(), 2813u);
  EXPECT_EQ(m.at("tokenizer.ggml.merges").as_string_vector()[0], "\xC4\xA0 t");  // "Ġ t"
  EXPECT_EQ(m.at("tokenizer.ggml.eos_token_id").as_u64(), 0u);
  EXPECT_EQ(m.at("tokenizer.ggml.bos_token_id").as_u64(), 0u);  // config.json bos_token_id
  EXPECT_EQ(m.at("tokenizer.ggml.padding_token_id").as_u64(), 0u);
  EXPECT_FALSE(m.at("tokenizer.ggml.add_bos_token").as_bool());
}

TEST_SHARED(HfTokenizer, Llama3Style) {
  GgufMetadata m = hf_tokenizer_metadata(SHARED_FILE("tokenizers/llama3style"));
  EXPECT_EQ(m.at("tokenizer.ggml.model").as_string(), "gpt2");
  EXPECT_EQ(m.at("tokenizer.ggml.pre").as_string(), "llama-bpe");
  EXPECT_EQ(m.at("tokenizer.ggml.tokens").as_string_vector().size(), 3072u);  // no config.json: no padding
  EXPECT_EQ(m.at("tokenizer.ggml.merges").as_string_vector().size(), 2814u);
  EXPECT_EQ(m.at("tokenizer.ggml.bos_token_id").as_u64(), 0u);
  EXPECT_EQ(m.at("tokenizer.ggml.eos_token_id").as_u64(), 1u);
  EXPECT_TRUE(m.at("tokenizer.ggml.add_bos_token").as_bool());
}

TEST(HfTokenizer, PadsToVocabSize) {
  TempDir d;
  write_file(d.file("tokenizer.json"), R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2},
    "merges": ["a b"]}, "pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
    "added_tokens": [{"id": 4, "content": "<tool>", "special": false},
                     {"id": 5, "content": "▁x", "special": false},
                     {"id": 6, "content": "<|user|>", "special": false}]})");
  GgufMetadata m = hf_tokenizer_metadata(d.path(), 8);
  auto tokens = m.at("tokenizer.ggml.tokens").as_string_vector();
  auto types = m.at("tokenizer.ggml.token_type").as_i64_vector();
  ASSERT_EQ(tokens.size(), 8u);
  EXPECT_EQ(tokens[3], "[PAD3]");
  EXPECT_EQ(types[3], 5);
  EXPECT_EQ(types[4], 4);     // non-special added token: user-defined
  EXPECT_EQ(tokens[5], " x");  // user-defined "▁" stands for a space
  EXPECT_EQ(types[6], 3);     // looks special: control
  EXPECT_EQ(tokens[7], "[PAD7]");
  EXPECT_EQ(m.at("tokenizer.ggml.pre").as_string(), "gpt-2");
  EXPECT_FALSE(m.contains("tokenizer.ggml.add_bos_token"));  // nothing says
  EXPECT_NE(error_of([&] { hf_tokenizer_metadata(d.path(), 3); }).find("vocab_size"), std::string::npos);
  // A tiny file cannot make us allocate millions of padding entries.
  EXPECT_NE(error_of([&] { hf_tokenizer_metadata(d.path(), 10000000); }).find("far beyond"), std::string::npos);
  write_file(d.file("tokenizer.json"), R"({"model": {"type": "BPE", "vocab": {"a": 16000000}, "merges": []},
    "pre_tokenizer": {"type": "ByteLevel"}})");
  EXPECT_NE(error_of([&] { hf_tokenizer_metadata(d.path()); }).find("out of range"), std::string::npos);
}

TEST(HfTokenizer, UnigramIsSentencePieceStyle) {
  TempDir d;
  write_file(d.file("tokenizer.json"), R"({"model": {"type": "Unigram", "unk_id": 0, "byte_fallback": true,
    "vocab": [["<unk>", 0.0], ["<s>", 0.0], ["</s>", 0.0], ["<0x0A>", 0.0], ["▁the", -2.5], ["s", -4.0]]},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"},
    "added_tokens": [{"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}]})");
  write_file(d.file("tokenizer_config.json"), R"({"bos_token": "<s>", "eos_token": {"content": "</s>"},
    "add_bos_token": true, "chat_template": "{{ messages }}"})");
  GgufMetadata m = hf_tokenizer_metadata(d.path());
  EXPECT_EQ(m.at("tokenizer.ggml.model").as_string(), "llama");
  EXPECT_FALSE(m.contains("tokenizer.ggml.pre"));
  EXPECT_FALSE(m.contains("tokenizer.ggml.merges"));
  EXPECT_EQ(m.at("tokenizer.ggml.token_type").as_i64_vector(), (std::vector<int64_t>{2, 3, 3, 6, 1, 1}));
  EXPECT_EQ(m.at("tokenizer.ggml.scores").as_f32_vector(), (std::vector<float>{0, 0, 0, 0, -2.5f, -4.0f}));
  EXPECT_EQ(m.at("tokenizer.ggml.bos_token_id").as_u64(), 1u);
  EXPECT_EQ(m.at("tokenizer.ggml.eos_token_id").as_u64(), 2u);
  EXPECT_EQ(m.at("tokenizer.ggml.unknown_token_id").as_u64(), 0u);
  EXPECT_TRUE(m.at("tokenizer.ggml.add_bos_token").as_bool());
  EXPECT_TRUE(m.at("tokenizer.ggml.add_space_prefix").as_bool());
  EXPECT_EQ(m.at("tokenizer.chat_template").as_string(), "{{ messages }}");
}

TEST(HfTokenizer, BpeWithByteFallbackIsSentencePieceStyle) {
  TempDir d;
  // Llama-2-style tokenizer.json: merges define the SentencePiece scores.
  write_file(d.file("tokenizer.json"), R"({"model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
    "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "▁": 4, "t": 5, "h": 6, "e": 7, "▁t": 8, "he": 9, "▁the": 10},
    "merges": ["▁ t", "h e", "▁t he"]},
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace"}]},
    "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
                     {"id": 2, "content": "</s>", "special": true}]})");
  GgufMetadata m = hf_tokenizer_metadata(d.path());
  EXPECT_EQ(m.at("tokenizer.ggml.model").as_string(), "llama");
  EXPECT_EQ(m.at("tokenizer.ggml.token_type").as_i64_vector(),
            (std::vector<int64_t>{3, 3, 3, 6, 1, 1, 1, 1, 1, 1, 1}));
  auto scores = m.at("tokenizer.ggml.scores").as_f32_vector();
  EXPECT_EQ(scores[8], 0.0f);   // "▁t": first merge
  EXPECT_EQ(scores[9], -1.0f);  // "he"
  EXPECT_EQ(scores[10], -2.0f);
  EXPECT_LT(scores[5], scores[10]);  // single characters: lowest priority
  EXPECT_TRUE(m.at("tokenizer.ggml.add_space_prefix").as_bool());
}

TEST(HfTokenizer, Errors) {
  TempDir d;
  EXPECT_NE(error_of([&] { hf_tokenizer_metadata(d.path()); }).find("no tokenizer.json"), std::string::npos);
  write_file(d.file("tokenizer.json"), R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, )");
  std::string e = error_of([&] { hf_tokenizer_metadata(d.path()); });
  EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
  EXPECT_NE(e.find("malformed JSON"), std::string::npos) << e;
  write_file(d.file("tokenizer.json"), R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}},
    {"type": "ByteLevel", "use_regex": false}]}})");
  e = error_of([&] { hf_tokenizer_metadata(d.path()); });
  EXPECT_NE(e.find("regex not recognised"), std::string::npos) << e;
  write_file(d.file("tokenizer.json"), R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})");
  e = error_of([&] { hf_tokenizer_metadata(d.path()); });
  EXPECT_NE(e.find("WordPiece"), std::string::npos) << e;
  write_file(d.file("tokenizer.json"), std::string(100000, '[') + std::string(100000, ']'));
  e = error_of([&] { hf_tokenizer_metadata(d.path()); });
  EXPECT_NE(e.find("nested deeper"), std::string::npos) << e;
}
