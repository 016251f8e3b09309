// Tokenizer behaviour beyond the parity vectors: BOS/EOS, special-token
// parsing, pieces, end-of-generation ids, the reference prompts and
// generations of ../shared/reference, the SentencePiece word split, and
// errors on bad metadata. Expected ids come from ../shared (reference.json,
// the vocab test vectors) or from the vocabularies' own token lists.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/hf_tokenizer.h"
#include "tokenizer/spm.h"
#include "tokenizer/tokenizer.h"

namespace lowbit {
namespace {

Tokenizer load_gguf_tokenizer(const std::string& relative) {
  const GgufReader r(SHARED_FILE(relative));
  return Tokenizer::from_metadata(r.metadata());
}

nlohmann::json read_json(const std::string& relative) {
  return nlohmann::json::parse(test::read_text_file(SHARED_FILE(relative)));
}

std::vector<int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

TEST_SHARED(Tokenizer, SentencePieceSpecials) {
  const Tokenizer tok = load_gguf_tokenizer("vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(tok.kind(), Tokenizer::Kind::SentencePiece);
  EXPECT_EQ(tok.n_vocab(), 32000);
  EXPECT_EQ(tok.bos(), 1);
  EXPECT_EQ(tok.eos(), 2);
  EXPECT_EQ(tok.unk(), 0);
  EXPECT_TRUE(tok.add_bos());
  EXPECT_FALSE(tok.add_eos());
  // "Hello" -> 15043 ("▁Hello") per the vocab test vectors; BOS goes first.
  EXPECT_EQ(tok.encode("Hello", true, false), (std::vector<int32_t>{1, 15043}));
  EXPECT_EQ(tok.encode("", true, false), (std::vector<int32_t>{1}));
  // Control tokens in the text: ids only with parse_special; text after a
  // special token gets the space prefix again.
  EXPECT_EQ(tok.encode("<s>Hello", false, true), (std::vector<int32_t>{1, 15043}));
  const std::vector<int32_t> literal = tok.encode("<s>Hello", false, false);
  EXPECT_EQ(std::count(literal.begin(), literal.end(), 1), 0);
  EXPECT_EQ(tok.decode(literal), "<s>Hello");
  EXPECT_EQ(tok.decode({1, 15043, 2}), "Hello");
  EXPECT_EQ(tok.decode({1, 15043, 2}, /*render_special=*/true), "<s>Hello</s>");
  EXPECT_EQ(tok.token_to_piece(13), "\n");  // <0x0A>
  EXPECT_EQ(tok.token_to_piece(15043), " Hello");
  EXPECT_EQ(tok.token_text(15043), "\xE2\x96\x81Hello");
  EXPECT_EQ(tok.token_type(13), TokenType::Byte);
  EXPECT_EQ(tok.find_token("\xE2\x96\x81Hello"), 15043);
  EXPECT_EQ(tok.find_token("no such token"), -1);
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_FALSE(tok.is_eog(15043));
  EXPECT_THROW(tok.decode({32000}), Error);
  EXPECT_THROW(tok.decode({-1}), Error);
  EXPECT_THROW(tok.token_to_piece(32000), Error);
}

TEST_SHARED(Tokenizer, Phi3EndOfGenerationAndUserDefined) {
  const Tokenizer tok = load_gguf_tokenizer("vocab/ggml-vocab-phi-3.gguf");
  const int32_t end = tok.find_token("<|end|>");
  ASSERT_EQ(end, 32007);
  EXPECT_TRUE(tok.is_control(end));
  EXPECT_TRUE(tok.is_eog(end));
  EXPECT_TRUE(tok.is_eog(tok.eos()));
  EXPECT_FALSE(tok.is_eog(tok.find_token("<|user|>")));
  // "</s>" is user-defined in this vocabulary: matched even without parse_special.
  EXPECT_EQ(tok.token_type(2), TokenType::UserDefined);
  const std::vector<int32_t> ids = tok.encode("a</s>b", false, false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 1);
  EXPECT_EQ(tok.decode(ids), "a</s>b");
  const std::vector<int32_t> chat = tok.encode("<|user|>\nHi<|end|>", false, true);
  EXPECT_EQ(chat.front(), tok.find_token("<|user|>"));
  EXPECT_EQ(chat.back(), end);
}

TEST_SHARED(Tokenizer, BytePairSpecials) {
  const Tokenizer tok = load_gguf_tokenizer("vocab/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(tok.kind(), Tokenizer::Kind::BytePairEncoding);
  EXPECT_EQ(tok.pre_tokenizer(), "gpt-2");
  EXPECT_FALSE(tok.add_bos());
  EXPECT_EQ(tok.encode("the", true, false), tok.encode("the", false, false));
  EXPECT_EQ(tok.token_to_piece(262), " the");  // "Ġthe"
  const std::vector<int32_t> parsed = tok.encode("a<|endoftext|>b", false, true);
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[1], 50256);
  const std::vector<int32_t> literal = tok.encode("a<|endoftext|>b", false, false);
  EXPECT_GT(literal.size(), 3u);
  EXPECT_EQ(tok.decode(literal), "a<|endoftext|>b");
  EXPECT_EQ(tok.decode(parsed), "ab");
  EXPECT_EQ(tok.decode(parsed, true), "a<|endoftext|>b");
  EXPECT_TRUE(tok.is_eog(50256));
}

TEST_SHARED(Tokenizer, Gutenberg23mReferencePromptAndGeneration) {
  const Tokenizer tok = Tokenizer::from_metadata(hf_tokenizer_metadata(SHARED_FILE("models/gutenberg23m")));
  const nlohmann::json ref = read_json("reference/gutenberg23m/reference.json");
  const nlohmann::json& greedy = ref.at("greedy");
  EXPECT_TRUE(tok.add_bos());
  EXPECT_EQ(tok.bos(), 0);
  EXPECT_EQ(tok.eos(), 1);
  EXPECT_EQ(tok.encode(greedy.at("prompt").get<std::string>(), true, true), ids_of(greedy.at("prompt_ids_with_bos")));
  const std::vector<int32_t> all = ids_of(greedy.at("output_ids_including_prompt"));
  const size_t prompt_len = greedy.at("prompt_ids_with_bos").size();
  const std::vector<int32_t> continuation(all.begin() + long(prompt_len), all.end());
  EXPECT_EQ(tok.decode(continuation), greedy.at("continuation_text").get<std::string>());
  // The logits sentence: HF's ids (BOS + text) re-encode to themselves.
  const std::vector<int32_t> sentence = ids_of(ref.at("logits").at("input_ids"));
  EXPECT_EQ(tok.encode(tok.decode(sentence), true, true), sentence);
}

TEST_SHARED(Tokenizer, Qwen2TinyReferencePromptAndGeneration) {
  const Tokenizer tok = Tokenizer::from_metadata(hf_tokenizer_metadata(SHARED_FILE("models/qwen2tiny")));
  const nlohmann::json ref = read_json("reference/qwen2tiny/reference.json");
  const nlohmann::json& greedy = ref.at("greedy");
  EXPECT_FALSE(tok.add_bos());
  EXPECT_TRUE(tok.is_eog(tok.find_token("<|im_end|>")));
  const std::vector<int32_t> prompt = ids_of(greedy.at("prompt_ids"));
  EXPECT_EQ(tok.decode(prompt), "Once upon a time");
  EXPECT_EQ(tok.encode("Once upon a time", true, true), prompt);
  const std::vector<int32_t> all = ids_of(greedy.at("output_ids_including_prompt"));
  const std::vector<int32_t> continuation(all.begin() + long(prompt.size()), all.end());
  EXPECT_EQ(tok.decode(continuation), greedy.at("continuation_text").get<std::string>());
  const std::vector<int32_t> sentence = ids_of(ref.at("logits").at("input_ids"));
  EXPECT_EQ(tok.encode(tok.decode(sentence), true, true), sentence);
}

// Cutting SentencePiece text into words must not change the result: compare
// against merging the whole text at once on a long real text.
TEST_SHARED(Tokenizer, SentencePieceWordSplitIsExact) {
  for (const char* vocab_file : {"vocab/ggml-vocab-llama-spm.gguf", "models/stories260K.gguf"}) {
    const GgufReader r(SHARED_FILE(vocab_file));
    const Tokenizer tok = Tokenizer::from_metadata(r.metadata());
    // 80 KB keep the whole-text merge (quadratic-ish queue work) quick.
    const std::string text = test::read_text_file(SHARED_FILE("text/gutenberg_sign_of_four_crlf.txt")).substr(0, 80000);
    const std::vector<int32_t> ids = tok.encode(text, false, false);
    EXPECT_EQ(tok.decode(ids), text) << vocab_file;

    // Rebuild the vocabulary the encoder sees and run it unsplit.
    tokenizer_detail::Vocab vocab;
    vocab.tokens = r.metadata().at("tokenizer.ggml.tokens").as_string_vector();
    vocab.scores = r.metadata().at("tokenizer.ggml.scores").as_f32_vector();
    vocab.types.assign(vocab.tokens.size(), TokenType::Normal);
    vocab.index.build(vocab.tokens);
    tokenizer_detail::SpmEncoder split(vocab, 0), whole(vocab, 0, /*allow_word_split=*/false);
    EXPECT_TRUE(split.splits_words()) << vocab_file;
    EXPECT_FALSE(whole.splits_words());
    std::string escaped = "\xE2\x96\x81";
    for (char c : text) {
      if (c == ' ') escaped += "\xE2\x96\x81";
      else escaped += c;
    }
    std::vector<int32_t> a, b;
    split.encode(escaped, a);
    whole.encode(escaped, b);
    EXPECT_EQ(a, ids) << vocab_file;
    EXPECT_TRUE(a == b) << vocab_file << ": word split changed the tokens";
  }
}

// Random mixes of words, whitespace, emoji, special-token text and (for
// gpt-2, whose vocabulary has all 256 byte characters; falcon's lacks e.g.
// 0x1C and 0xF9, which are dropped as in llama.cpp) raw invalid bytes encode
// without error and decode back unchanged. SentencePiece gets valid UTF-8 without U+2581: it writes spaces
// as U+2581, so a literal one comes back as a space, and a stray lead byte
// swallows the bytes of the next character. deepseek-coder gets no raw bytes:
// it has user-defined tokens "û", "ü", ... that share their text with the
// byte-level characters of bytes 0xFB, 0xFC, ..., so such a byte comes back
// as that character (llama.cpp picks the same ids and pieces).
TEST_SHARED(Tokenizer, RandomTextRoundTrip) {
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const char* pieces[] = {" ", "\n", "\r\n", "a", "Z", "1", "'s", "\xC3\xA9", "\xF0\x9F\xA6\x99", "<s>",
                          "<|endoftext|>", "\t", "  ", "\xE4\xB8\x96", "\xE2\x96\x81"};
  for (const char* vocab_file : {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf",
                                 "vocab/ggml-vocab-deepseek-coder.gguf", "vocab/ggml-vocab-falcon.gguf"}) {
    const Tokenizer tok = load_gguf_tokenizer(vocab_file);
    const bool spm = tok.kind() == Tokenizer::Kind::SentencePiece;
    const bool raw_bytes = std::string(vocab_file).find("gpt-2") != std::string::npos;
    const size_t n_pieces = sizeof pieces / sizeof pieces[0] - (spm ? 1 : 0);
    for (int round = 0; round < 300; ++round) {
      std::string text;
      const int n = int(next() % 24);
      for (int i = 0; i < n; ++i) {
        const uint64_t r = next();
        if (raw_bytes && r % 3 == 0) text += char(r >> 8);
        else text += pieces[(r >> 8) % n_pieces];
      }
      for (bool parse_special : {false, true}) {
        const std::vector<int32_t> ids = tok.encode(text, false, parse_special);
        EXPECT_EQ(tok.decode(ids, /*render_special=*/true), text) << vocab_file;
      }
    }
  }
}

// Minimal valid byte-level BPE metadata: tokens a, b, ab; merge "a b".
GgufMetadata tiny_bpe() {
  GgufMetadata md;
  md.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  md.set("tokenizer.ggml.pre", GgufValue::string("gpt-2"));
  md.set("tokenizer.ggml.tokens", GgufValue::string_array({"a", "b", "ab", "<eos>"}));
  md.set("tokenizer.ggml.token_type", GgufValue::i32_array({1, 1, 1, 3}));
  md.set("tokenizer.ggml.merges", GgufValue::string_array({"a b"}));
  md.set("tokenizer.ggml.eos_token_id", GgufValue::u32(3));
  return md;
}

std::string error_of(const GgufMetadata& md) {
  try {
    Tokenizer::from_metadata(md);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Tokenizer, TinyBpeFromHandWrittenMetadata) {
  const Tokenizer tok = Tokenizer::from_metadata(tiny_bpe());
  EXPECT_EQ(tok.encode("abab", false, false), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(tok.encode("aab<eos>", false, true), (std::vector<int32_t>{0, 2, 3}));
  EXPECT_EQ(tok.eos(), 3);
  EXPECT_EQ(tok.bos(), -1);
  EXPECT_TRUE(tok.is_eog(3));
  // Bytes the vocabulary lacks produce no ids (as llama.cpp); nothing crashes.
  EXPECT_EQ(tok.encode("xab", false, false), (std::vector<int32_t>{2}));
}

TEST(Tokenizer, BadMetadataNamesTheKey) {
  GgufMetadata md = tiny_bpe();
  md.erase("tokenizer.ggml.model");
  EXPECT_NE(error_of(md).find("tokenizer.ggml.model"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.model", GgufValue::string("bert"));
  EXPECT_NE(error_of(md).find("'bert'"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.pre", GgufValue::string("made-up"));
  EXPECT_NE(error_of(md).find("made-up"), std::string::npos);

  md = tiny_bpe();
  md.erase("tokenizer.ggml.tokens");
  EXPECT_NE(error_of(md).find("tokenizer.ggml.tokens"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.tokens", GgufValue::u32(5));
  EXPECT_NE(error_of(md).find("tokenizer.ggml.tokens"), std::string::npos);

  md = tiny_bpe();
  md.erase("tokenizer.ggml.merges");
  EXPECT_NE(error_of(md).find("tokenizer.ggml.merges"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.merges", GgufValue::string_array({"ab"}));
  EXPECT_NE(error_of(md).find("tokenizer.ggml.merges[0]"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.token_type", GgufValue::i32_array({1, 1}));
  EXPECT_NE(error_of(md).find("tokenizer.ggml.token_type"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.token_type", GgufValue::i32_array({1, 1, 9, 3}));
  EXPECT_NE(error_of(md).find("tokenizer.ggml.token_type[2]"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.scores", GgufValue::f32_array({0.0f}));
  EXPECT_NE(error_of(md).find("tokenizer.ggml.scores"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.eos_token_id", GgufValue::u32(4));
  EXPECT_NE(error_of(md).find("tokenizer.ggml.eos_token_id"), std::string::npos);

  md = tiny_bpe();
  md.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
  EXPECT_NE(error_of(md).find("BOS"), std::string::npos);

  // An id of 0xFFFFFFFF (how some converters write "none") is absent, not an error.
  md = tiny_bpe();
  md.set("tokenizer.ggml.padding_token_id", GgufValue::u32(0xFFFFFFFFu));
  md.set("tokenizer.ggml.bos_token_id", GgufValue::u32(0xFFFFFFFFu));
  EXPECT_EQ(error_of(md), "");
  EXPECT_EQ(Tokenizer::from_metadata(md).bos(), -1);
}

}  // namespace
}  // namespace lowbit
