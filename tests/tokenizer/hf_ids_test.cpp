// Whole-file parity with Hugging Face tokenizers: the ids HF gives for each
// text in ../shared/text (reference ids/*.ids.json, no special tokens) for
// the three byte-level BPE families - GPT-2 regex (gutenberg23m), Qwen2
// (qwen2tiny) and Llama-3 (llama3style) - including a CRLF text. The
// tokenizer comes from tokenizer.json through io/hf_tokenizer, as a user's
// Hugging Face folder would.
#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/shared_data.h"
#include "io/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace lowbit {
namespace {

struct HfCase {
  const char* name;
  const char* folder;   // holds tokenizer.json
  const char* ids_dir;  // holds <text>.ids.json
  const char* pre;      // expected tokenizer.ggml.pre
};

constexpr HfCase kCases[] = {
    {"gutenberg23m", "models/gutenberg23m", "reference/gutenberg23m/ids", "gpt-2"},
    {"qwen2tiny", "models/qwen2tiny", "reference/qwen2tiny/ids", "qwen2"},
    {"llama3style", "tokenizers/llama3style", "tokenizers/llama3style/ids", "llama-bpe"},
};

constexpr const char* kTexts[] = {"gutenberg_sign_of_four", "gutenberg_sign_of_four_crlf", "tinystories_val_sample"};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Index of the first difference, or -1.
long first_difference(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return long(i);
  }
  return a.size() == b.size() ? -1 : long(n);
}

class HfIds : public ::testing::TestWithParam<HfCase> {};

TEST_P(HfIds, WholeFilesMatchHuggingFace) {
  const HfCase& c = GetParam();
  try {
    const std::string folder = SHARED_FILE(c.folder);
    const Tokenizer tok = Tokenizer::from_metadata(hf_tokenizer_metadata(folder));
    EXPECT_EQ(tok.kind(), Tokenizer::Kind::BytePairEncoding);
    EXPECT_EQ(tok.pre_tokenizer(), c.pre);
    for (const char* text_name : kTexts) {
      const std::string text = test::read_text_file(SHARED_FILE(std::string("text/") + text_name + ".txt"));
      const std::string ids_path = SHARED_FILE(std::string(c.ids_dir) + "/" + text_name + ".ids.json");
      const std::vector<int32_t> expected =
          nlohmann::json::parse(test::read_text_file(ids_path)).get<std::vector<int32_t>>();

      const double t0 = thread_cpu_seconds();
      const std::vector<int32_t> got = tok.encode(text, /*add_special=*/false, /*parse_special=*/true);
      const double seconds = thread_cpu_seconds() - t0;
      // CPU time, not wall time: the test machine may be busy with other work.
      EXPECT_LT(seconds, 1.0) << c.name << " " << text_name << ": encoding is too slow";

      const long diff = first_difference(got, expected);
      EXPECT_EQ(diff, -1) << c.name << " " << text_name << ": " << got.size() << " ids vs " << expected.size()
                          << " expected, first difference at index " << diff;
      if (diff >= 0 && size_t(diff) < std::min(got.size(), expected.size())) {
        ADD_FAILURE() << "  got '" << tok.token_to_piece(got[size_t(diff)]) << "' (" << got[size_t(diff)]
                      << "), expected '" << tok.token_to_piece(expected[size_t(diff)]) << "' ("
                      << expected[size_t(diff)] << ")";
      }
      EXPECT_TRUE(tok.decode(got) == text) << c.name << " " << text_name << ": decode(encode(text)) != text";
      std::printf("[ %s / %s ] %zu bytes -> %zu ids in %.0f ms CPU\n", c.name, text_name, text.size(), got.size(),
                  seconds * 1e3);
    }
  } catch (const test::SkipShared& s) {
    if (!test::running_in_ci()) GTEST_SKIP() << "needs ../shared (not found: " << s.path << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, HfIds, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace lowbit
