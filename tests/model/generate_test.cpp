// Generation end to end: stories260K's greedy text against llama.cpp's, the
// UTF-8 streaming, and the `lowbit run` command.
#include <gtest/gtest.h>

#include <string>

#include "common/shared_data.h"
#include "core/error.h"
#include "model/generate.h"

namespace lowbit::model {
namespace {

std::string rstrip(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// reference/llamacpp/stories260K-greedy.txt: comment lines starting with '#',
// then what llama-cli printed: the prompt (with SentencePiece's leading
// space) and 64 generated tokens.
std::string llamacpp_continuation(const std::string& prompt) {
  std::string text = test::read_text_file(SHARED_FILE("reference/llamacpp/stories260K-greedy.txt"));
  while (!text.empty() && text[0] == '#') text.erase(0, text.find('\n') + 1);
  const std::string printed_prompt = " " + prompt;
  EXPECT_EQ(text.substr(0, printed_prompt.size()), printed_prompt);
  return rstrip(text.substr(printed_prompt.size()));
}

TEST_SHARED(Generate, Stories260KGreedyMatchesLlamaCpp) {
  const std::string prompt = "Once upon a time";
  const std::string expected = llamacpp_continuation(prompt);
  auto model = Model::open(SHARED_FILE("models/stories260K.gguf"));
  const Tokenizer tok = Tokenizer::from_metadata(model->source().metadata());
  Session session(*model);
  GenerateOptions opt;
  opt.n_predict = 64;
  opt.sampling.temperature = 0.0f;
  std::string streamed;
  const GenerateResult r = generate(session, tok, prompt, opt, [&](std::string_view p) { streamed.append(p); });
  ASSERT_FALSE(r.prompt_tokens.empty());
  EXPECT_EQ(r.prompt_tokens[0], tok.bos());
  EXPECT_EQ(r.tokens.size(), 64u);
  EXPECT_EQ(rstrip(r.text), expected);
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(session.n_past(), int64_t(r.prompt_tokens.size() + 63));
}

TEST_SHARED(Generate, SameSeedSameText) {
  auto model = Model::open(SHARED_FILE("models/stories260K.gguf"));
  const Tokenizer tok = Tokenizer::from_metadata(model->source().metadata());
  GenerateOptions opt;
  opt.n_predict = 40;
  opt.sampling = {1.0f, 0, 1.0f, 1234};
  opt.stop_at_eog = false;
  Session a(*model), b(*model);
  const GenerateResult ra = generate(a, tok, "Lily", opt), rb = generate(b, tok, "Lily", opt);
  EXPECT_EQ(ra.tokens, rb.tokens);
  opt.sampling.seed = 99;
  Session c(*model);
  EXPECT_NE(generate(c, tok, "Lily", opt).tokens, ra.tokens);
}

TEST_SHARED(Generate, PromptLongerThanContextIsAClearError) {
  auto model = Model::open(SHARED_FILE("models/stories260K.gguf"));
  const Tokenizer tok = Tokenizer::from_metadata(model->source().metadata());
  SessionOptions so;
  so.n_ctx = 4;
  Session s(*model, so);
  try {
    generate(s, tok, "Once upon a time there was a dog", GenerateOptions{});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context of 4 tokens"), std::string::npos) << e.what();
  }
}

TEST(Generate, Utf8StreamHoldsBackPartialCharacters) {
  Utf8Stream s;
  EXPECT_EQ(s.push("a\xE2"), "a");            // first byte of a 3-byte character
  EXPECT_EQ(s.push("\x80"), "");
  EXPECT_EQ(s.push("\x9C" "b"), "\xE2\x80\x9C" "b");  // completed: U+201C then b
  EXPECT_EQ(s.push("\xF0\x9F"), "");
  EXPECT_EQ(s.flush(), "\xF0\x9F");
  EXPECT_EQ(s.push("plain"), "plain");
}

TEST_SHARED(RunCommand, GreedyStreamsLlamaCppText) {
  const std::string model = SHARED_FILE("models/stories260K.gguf");
  const std::string expected = llamacpp_continuation("Once upon a time");
  const auto r = test::run_lowbit("run " + model + " -p 'Once upon a time' -n 64 --temp 0 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Once upon a time" + expected), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("prefill:"), std::string::npos);
  EXPECT_NE(r.output.find("tokens/s"), std::string::npos);
  EXPECT_NE(r.output.find("peak RSS"), std::string::npos);
}

TEST_SHARED(RunCommand, ErrorsAreMessagesNotCrashes) {
  const std::string model = SHARED_FILE("models/stories260K.gguf");
  auto r = test::run_lowbit("run " + model + " -p 'Once upon a time there was' --ctx 3");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("lowbit: error:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("context"), std::string::npos) << r.output;
  r = test::run_lowbit("run " + model + " -p hi --kv-type q4");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("q4"), std::string::npos) << r.output;
  r = test::run_lowbit("run /nonexistent/model.gguf -p hi");
  EXPECT_EQ(r.exit_code, 1) << r.output;
}

}  // namespace
}  // namespace lowbit::model
