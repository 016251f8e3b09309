// Prompt -> tokens -> prefill -> sampling loop (see generate.h).
#include "model/generate.h"

#include <chrono>

#include "core/error.h"

namespace lowbit::model {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Length of the UTF-8 sequence a lead byte starts (1 for stray bytes, which
// are passed through rather than held forever).
size_t utf8_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF8) return 4;
  return 1;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  // Find the start of the last character; keep it back if it is incomplete.
  size_t cut = pending_.size();
  size_t i = pending_.size();
  int back = 0;
  while (i > 0 && back < 4) {
    --i;
    ++back;
    const unsigned char c = static_cast<unsigned char>(pending_[i]);
    if ((c & 0xC0) != 0x80) {  // a lead byte (or ASCII)
      if (i + utf8_length(c) > pending_.size()) cut = i;
      break;
    }
  }
  std::string out = pending_.substr(0, cut);
  pending_.erase(0, cut);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

double GenerateResult::prefill_tokens_per_second() const {
  return prefill_seconds > 0 ? double(prompt_tokens.size()) / prefill_seconds : 0.0;
}

double GenerateResult::decode_tokens_per_second() const {
  // The first generated token comes from the prefill's logits; each later
  // one costs one decode step.
  const size_t steps = tokens.size() > 1 ? tokens.size() - 1 : 0;
  return decode_seconds > 0 ? double(steps) / decode_seconds : 0.0;
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer, std::string_view prompt,
                        const GenerateOptions& options, const std::function<void(std::string_view)>& on_text) {
  return generate_tokens(session, tokenizer, tokenizer.encode(prompt, true, true), options, on_text);
}

GenerateResult generate_tokens(Session& session, const Tokenizer& tokenizer, std::vector<int32_t> prompt_tokens,
                               const GenerateOptions& options, const std::function<void(std::string_view)>& on_text) {
  GenerateResult r;
  r.prompt_tokens = std::move(prompt_tokens);
  if (r.prompt_tokens.empty()) fail("the prompt is empty (and the vocabulary adds no BOS token)");
  const int64_t room = session.n_ctx() - session.n_past();
  if (int64_t(r.prompt_tokens.size()) > room)
    fail("the prompt is {} tokens long, more than the context of {} tokens{} (raise --ctx)", r.prompt_tokens.size(),
         session.n_ctx(), session.n_past() ? " minus what is already in it" : "");
  if (options.n_predict < 0) fail("number of tokens to generate must not be negative");

  Sampler sampler(options.sampling);
  Utf8Stream stream;
  auto emit = [&](std::string_view piece) {
    if (piece.empty()) return;
    r.text.append(piece);
    if (on_text) on_text(piece);
  };

  auto t0 = std::chrono::steady_clock::now();
  std::vector<float> logits = session.eval(r.prompt_tokens);
  r.prefill_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < options.n_predict; ++i) {
    const int32_t token = sampler.sample(logits);
    r.tokens.push_back(token);
    if (options.stop_at_eog && tokenizer.is_eog(token)) {
      r.hit_eog = true;
      break;
    }
    if (!tokenizer.is_control(token)) emit(stream.push(tokenizer.token_to_piece(token)));
    if (i + 1 == options.n_predict) break;
    if (session.n_past() >= session.n_ctx()) {
      r.hit_context_end = true;
      break;
    }
    logits = session.eval(std::span<const int32_t>(&token, 1));
  }
  emit(stream.flush());
  r.decode_seconds = seconds_since(t0);
  return r;
}

}  // namespace lowbit::model
