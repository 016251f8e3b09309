// Text generation: tokenize a prompt, prefill it, then sample token after
// token, streaming the text as whole UTF-8 characters become available.
// Used by `lowbit run`; keeps timing for the tokens/s report.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/sampler.h"
#include "model/session.h"
#include "tokenizer/tokenizer.h"

namespace lowbit::model {

struct GenerateOptions {
  int64_t n_predict = 128;   // tokens to generate at most
  SamplerOptions sampling;
  bool stop_at_eog = true;   // stop at EOS / end-of-turn tokens
};

struct GenerateResult {
  std::vector<int32_t> prompt_tokens;
  std::vector<int32_t> tokens;  // generated, in order (an end token included)
  std::string text;             // generated text (end tokens left out)
  double prefill_seconds = 0;
  double decode_seconds = 0;    // every step after the first sampled token
  bool hit_eog = false;
  bool hit_context_end = false;
  double prefill_tokens_per_second() const;
  double decode_tokens_per_second() const;
};

// Cuts text into pieces that end on UTF-8 character boundaries: a token may
// carry half a character (byte-fallback tokens, byte-level BPE).
class Utf8Stream {
 public:
  // Appends bytes and returns the complete characters now available.
  std::string push(std::string_view bytes);
  // Whatever is left (an incomplete sequence at the very end).
  std::string flush();

 private:
  std::string pending_;
};

// Tokenizes `prompt` (adding BOS when the vocabulary wants it), evaluates it
// in the session (which should be empty), and generates. on_text receives
// each new piece of text. Throws lowbit::Error when the prompt is empty or
// does not fit the session's context.
GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::string_view prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& on_text = {});

// The same from token ids.
GenerateResult generate_tokens(Session& session, const Tokenizer& tokenizer, std::vector<int32_t> prompt_tokens,
                               const GenerateOptions& options,
                               const std::function<void(std::string_view)>& on_text = {});

}  // namespace lowbit::model
