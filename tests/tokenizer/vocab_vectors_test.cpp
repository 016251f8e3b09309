// llama.cpp's tokenizer test vectors (../shared/vocab/*.gguf.inp / .out,
// produced with the Hugging Face tokenizers): every string must encode to
// exactly the listed ids (no BOS, special tokens not parsed, as llama.cpp's
// test-tokenizer-0 runs them), and decode back to the string.
#include <gtest/gtest.h>

#include <sstream>

#include "common/shared_data.h"
#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace lowbit {
namespace {

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<VocabCase> read_cases(const std::string& gguf_path) {
  const std::string inp = test::read_text_file(gguf_path + ".inp");
  const std::string out = test::read_text_file(gguf_path + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t next = inp.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(inp.substr(pos));
      break;
    }
    texts.push_back(inp.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<VocabCase> cases;
  std::istringstream lines(out);
  std::string line;
  for (size_t i = 0; std::getline(lines, line); ++i) {
    EXPECT_LT(i, texts.size()) << gguf_path << ": more output lines than inputs";
    if (i >= texts.size()) break;
    VocabCase c{texts[i], {}};
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  EXPECT_EQ(cases.size(), texts.size()) << gguf_path;
  return cases;
}

std::string show_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s.append(" ").append(std::to_string(id));
  return s;
}

class VocabVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabVectors, EncodeAndDecodeExactly) {
  try {
    const std::string path = SHARED_FILE(std::string("vocab/ggml-vocab-") + GetParam() + ".gguf");
    const GgufReader reader(path);
    const Tokenizer tok = Tokenizer::from_metadata(reader.metadata());
    const std::vector<VocabCase> cases = read_cases(path);
    ASSERT_GT(cases.size(), 30u);
    size_t passed = 0;
    for (const VocabCase& c : cases) {
      const std::vector<int32_t> got = tok.encode(c.text, /*add_special=*/false, /*parse_special=*/false);
      EXPECT_EQ(got, c.ids) << GetParam() << " text: '" << c.text << "'\n  expected:" << show_ids(c.ids)
                            << "\n  got:     " << show_ids(got);
      EXPECT_EQ(tok.decode(got), c.text) << GetParam();
      // The strings hold no special-token text, so parsing specials changes nothing.
      EXPECT_EQ(tok.encode(c.text, false, true), got) << GetParam() << " '" << c.text << "'";
      passed += got == c.ids;
    }
    std::printf("[ %s ] %zu / %zu vectors match\n", GetParam(), passed, cases.size());
  } catch (const test::SkipShared& s) {
    if (!test::running_in_ci()) GTEST_SKIP() << "needs ../shared (not found: " << s.path << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "deepseek-llm", "deepseek-coder", "falcon",
                                           "mpt", "starcoder", "refact"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace lowbit
