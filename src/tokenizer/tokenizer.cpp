// Tokenizer: loading from GGUF metadata, special-token splitting, and the
// dispatch to the SentencePiece-style or byte-level BPE encoder.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "io/gguf.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/spm.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace lowbit {

using tokenizer_detail::BpeEncoder;
using tokenizer_detail::SpmEncoder;
using tokenizer_detail::Vocab;

struct Tokenizer::Impl {
  Vocab vocab;
  Kind kind = Kind::SentencePiece;
  std::string pre_name;
  PreTokenizer pre = PreTokenizer::Default;
  std::unique_ptr<SpmEncoder> spm;
  std::unique_ptr<BpeEncoder> bpe;
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;
  std::vector<std::string> pieces;       // bytes each token decodes to
  std::vector<int32_t> special_tokens;   // matched in text, longest first
  std::vector<uint8_t> eog;

  bool is_special_type(int32_t id) const {
    const TokenType t = vocab.types[size_t(id)];
    return t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown;
  }
};

namespace {

constexpr const char* kEscapedSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Reads an optional token id key; out-of-range ids are an error for the keys
// that encode() relies on and ignored (treated as absent) for the others.
std::optional<int32_t> read_token_id(const GgufMetadata& md, const char* key, int32_t n_vocab, bool required_valid) {
  const GgufValue* v = md.find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) fail("{}: expected an integer token id, got {}", key, gguf_type_name(v->type()));
  const int64_t id = v->as_i64();
  if (id == -1 || id == 0xFFFFFFFFll) return -1;  // both spell "none" in the wild
  if (id < 0 || id >= n_vocab) {
    if (required_valid) fail("{} = {} is outside the vocabulary (0..{})", key, id, n_vocab - 1);
    return -1;
  }
  return int32_t(id);
}

// SentencePiece byte token "<0xXX>" -> XX.
int parse_byte_token(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = text[size_t(i)];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return -1;
    value = value * 16 + d;
  }
  return value;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// Byte-level token text -> the bytes it stands for; characters outside the
// GPT-2 alphabet are kept as they are.
std::string byte_level_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unicode::Utf8Char c = unicode::decode_utf8(text.data() + i, text.size() - i);
    const int b = unicode::codepoint_to_byte(c.cp);
    if (b >= 0) out += char(b);
    else out.append(text, i, c.len);
    i += c.len;
  }
  return out;
}

std::string make_piece(const Tokenizer::Impl& t, int32_t id) {
  const std::string& text = t.vocab.tokens[size_t(id)];
  const TokenType type = t.vocab.types[size_t(id)];
  if (type == TokenType::Control || type == TokenType::UserDefined) return text;
  if (t.kind == Tokenizer::Kind::SentencePiece) {
    if (type == TokenType::Byte) {
      const int b = parse_byte_token(text);
      if (b >= 0) return std::string(1, char(b));
    }
    if (type == TokenType::Unknown) return "\xE2\x96\x85";  // U+2585, as llama.cpp shows <unk>
    return replace_all(text, kEscapedSpace, " ");
  }
  return byte_level_decode(text);
}

// Tokens that end generation besides EOS (chat-turn terminators).
bool is_eog_text(const std::string& text) {
  static const char* const kTexts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                       "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>",
                                       "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};
  for (const char* t : kTexts) {
    if (text == t) return true;
  }
  return false;
}

struct Fragment {
  int32_t token;  // >= 0: a special token; -1: raw text [begin, end)
  size_t begin, end;
};

}  // namespace

Tokenizer Tokenizer::from_metadata(const GgufMetadata& md) {
  auto impl = std::make_shared<Impl>();
  Vocab& vocab = impl->vocab;

  const std::string model = md.get_string("tokenizer.ggml.model");
  if (model == "llama") impl->kind = Kind::SentencePiece;
  else if (model == "gpt2") impl->kind = Kind::BytePairEncoding;
  else if (model.empty()) fail("tokenizer.ggml.model is missing: the file carries no tokenizer");
  else fail("tokenizer.ggml.model = '{}' is not supported (supported: llama, gpt2)", model);

  const GgufValue* tokens = md.find("tokenizer.ggml.tokens");
  if (!tokens) fail("tokenizer.ggml.tokens is missing");
  vocab.tokens = with_context("tokenizer.ggml.tokens", [&] { return tokens->as_string_vector(); });
  if (vocab.tokens.empty()) fail("tokenizer.ggml.tokens is empty");
  if (vocab.tokens.size() > size_t(INT32_MAX)) fail("tokenizer.ggml.tokens has too many entries");
  const size_t n = vocab.tokens.size();
  const int32_t n_vocab = int32_t(n);

  if (const GgufValue* s = md.find("tokenizer.ggml.scores")) {
    vocab.scores = with_context("tokenizer.ggml.scores", [&] { return s->as_f32_vector(); });
    if (vocab.scores.size() != n) fail("tokenizer.ggml.scores has {} entries for {} tokens", vocab.scores.size(), n);
  }
  vocab.types.assign(n, TokenType::Normal);
  if (const GgufValue* t = md.find("tokenizer.ggml.token_type")) {
    const std::vector<int64_t> types = with_context("tokenizer.ggml.token_type", [&] { return t->as_i64_vector(); });
    if (types.size() != n) fail("tokenizer.ggml.token_type has {} entries for {} tokens", types.size(), n);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > 6) fail("tokenizer.ggml.token_type[{}] = {} is not a token type (0..6)", i, types[i]);
      vocab.types[i] = TokenType(types[i]);
    }
  }
  vocab.index.build(vocab.tokens);

  const bool spm = impl->kind == Kind::SentencePiece;
  if (!spm) {
    impl->pre_name = md.get_string("tokenizer.ggml.pre", "default");
    impl->pre = pre_tokenizer_from_name(impl->pre_name);
  }

  // Special ids; SentencePiece vocabularies default to <unk>=0, <s>=1, </s>=2 like llama.cpp.
  auto id_or = [&](const char* key, int32_t def, bool required_valid) {
    return read_token_id(md, key, n_vocab, required_valid).value_or(def < n_vocab ? def : -1);
  };
  impl->bos = id_or("tokenizer.ggml.bos_token_id", spm ? 1 : -1, true);
  impl->eos = id_or("tokenizer.ggml.eos_token_id", spm ? 2 : -1, true);
  impl->unk = id_or("tokenizer.ggml.unknown_token_id", spm ? 0 : -1, true);
  impl->pad = id_or("tokenizer.ggml.padding_token_id", -1, false);
  const int32_t eot = id_or("tokenizer.ggml.eot_token_id", -1, false);
  const int32_t eom = id_or("tokenizer.ggml.eom_token_id", -1, false);

  const bool llama3 = !spm && impl->pre == PreTokenizer::Llama3;
  impl->add_bos = md.get_bool("tokenizer.ggml.add_bos_token", spm || llama3);
  impl->add_eos = md.get_bool("tokenizer.ggml.add_eos_token", false);
  impl->add_space_prefix = spm && md.get_bool("tokenizer.ggml.add_space_prefix", true);
  if (impl->add_bos && impl->bos < 0) fail("tokenizer.ggml.add_bos_token is set but there is no BOS token id");
  if (impl->add_eos && impl->eos < 0) fail("tokenizer.ggml.add_eos_token is set but there is no EOS token id");

  if (spm) {
    impl->spm = std::make_unique<SpmEncoder>(vocab, impl->unk);
  } else {
    const GgufValue* merges = md.find("tokenizer.ggml.merges");
    if (!merges) fail("tokenizer.ggml.merges is missing (needed by a gpt2 tokenizer)");
    const std::vector<std::string>& list =
        with_context("tokenizer.ggml.merges", [&]() -> const std::vector<std::string>& { return merges->as_string_vector(); });
    // llama.cpp's Llama-3 handling: a word that is a token is taken whole.
    impl->bpe = std::make_unique<BpeEncoder>(vocab, list, llama3);
  }

  impl->pieces.resize(n);
  impl->eog.assign(n, 0);
  for (int32_t i = 0; i < n_vocab; ++i) {
    impl->pieces[size_t(i)] = make_piece(*impl, i);
    if (impl->is_special_type(i) && !vocab.tokens[size_t(i)].empty()) impl->special_tokens.push_back(i);
    const TokenType type = vocab.types[size_t(i)];
    if ((type == TokenType::Control || type == TokenType::UserDefined) && is_eog_text(vocab.tokens[size_t(i)]))
      impl->eog[size_t(i)] = 1;
  }
  for (int32_t id : {impl->eos, eot, eom}) {
    if (id >= 0) impl->eog[size_t(id)] = 1;
  }
  std::stable_sort(impl->special_tokens.begin(), impl->special_tokens.end(), [&](int32_t a, int32_t b) {
    return vocab.tokens[size_t(a)].size() > vocab.tokens[size_t(b)].size();
  });
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  const Impl& t = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && t.add_bos) out.push_back(t.bos);

  // Cut out special tokens, longest first (llama.cpp's order): each token
  // splits every raw-text fragment it occurs in.
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({-1, 0, text.size()});
  std::vector<Fragment> next;
  for (int32_t id : t.special_tokens) {
    if (!parse_special && t.vocab.types[size_t(id)] != TokenType::UserDefined) continue;
    const std::string& s = t.vocab.tokens[size_t(id)];
    if (text.find(s) == std::string_view::npos) continue;
    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      const std::string_view region = text.substr(0, f.end);
      size_t pos = f.begin;
      for (size_t hit; (hit = region.find(s, pos)) != std::string_view::npos; pos = hit + s.size()) {
        if (hit > pos) next.push_back({-1, pos, hit});
        next.push_back({id, hit, hit + s.size()});
      }
      if (pos < f.end) next.push_back({-1, pos, f.end});
    }
    fragments.swap(next);
  }

  if (t.kind == Kind::SentencePiece) {
    bool after_special = true;  // the space prefix goes at the start and after each special token
    std::string escaped;
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      escaped.clear();
      if (t.add_space_prefix && after_special) escaped = kEscapedSpace;
      for (char c : text.substr(f.begin, f.end - f.begin)) {
        if (c == ' ') escaped += kEscapedSpace;
        else escaped += c;
      }
      t.spm->encode(escaped, out);
      after_special = false;
    }
  } else {
    // Natural text repeats its words a lot: merge each distinct word once.
    struct Span {
      uint32_t begin, count;  // tokens already in `out`
    };
    std::unordered_map<std::string_view, Span, tokenizer_detail::StringHash> seen;
    for (const Fragment& f : fragments) {
      if (f.token >= 0) {
        out.push_back(f.token);
        continue;
      }
      const std::string_view raw = text.substr(f.begin, f.end - f.begin);
      for (const TextPiece& p : pre_tokenize(t.pre, raw)) {
        const std::string_view word = raw.substr(p.begin, p.end - p.begin);
        auto it = seen.find(word);
        if (it != seen.end()) {
          for (uint32_t k = 0; k < it->second.count; ++k) {
            const int32_t id = out[it->second.begin + k];
            out.push_back(id);
          }
          continue;
        }
        const size_t before = out.size();
        t.bpe->encode_word(word, out);
        seen.emplace(word, Span{uint32_t(before), uint32_t(out.size() - before)});
      }
    }
  }

  if (add_special && t.add_eos) out.push_back(t.eos);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
  const Impl& t = *impl_;
  std::string out;
  bool strip_space = t.add_space_prefix;  // undo the prefix encode() adds to each text run
  for (int32_t id : ids) {
    if (id < 0 || id >= n_vocab()) fail("decode: token id {} is outside the vocabulary (0..{})", id, n_vocab() - 1);
    if (t.is_special_type(id)) {
      if (render_special || t.vocab.types[size_t(id)] != TokenType::Control) out += t.pieces[size_t(id)];
      strip_space = t.add_space_prefix;
      continue;
    }
    const std::string& piece = t.pieces[size_t(id)];
    if (strip_space && !piece.empty() && piece[0] == ' ') out.append(piece, 1);
    else out += piece;
    strip_space = false;
  }
  return out;
}

const std::string& Tokenizer::token_to_piece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) fail("token id {} is outside the vocabulary (0..{})", id, n_vocab() - 1);
  return impl_->pieces[size_t(id)];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= n_vocab()) fail("token id {} is outside the vocabulary (0..{})", id, n_vocab() - 1);
  return impl_->vocab.tokens[size_t(id)];
}

TokenType Tokenizer::token_type(int32_t id) const {
  if (id < 0 || id >= n_vocab()) fail("token id {} is outside the vocabulary (0..{})", id, n_vocab() - 1);
  return impl_->vocab.types[size_t(id)];
}

int32_t Tokenizer::find_token(std::string_view text) const { return impl_->vocab.find(text); }
Tokenizer::Kind Tokenizer::kind() const { return impl_->kind; }
const std::string& Tokenizer::pre_tokenizer() const { return impl_->pre_name; }
int32_t Tokenizer::n_vocab() const { return int32_t(impl_->vocab.tokens.size()); }
int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
int32_t Tokenizer::unk() const { return impl_->unk; }
int32_t Tokenizer::pad() const { return impl_->pad; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::is_eog(int32_t id) const { return id >= 0 && id < n_vocab() && impl_->eog[size_t(id)]; }
bool Tokenizer::is_control(int32_t id) const {
  return id >= 0 && id < n_vocab() && impl_->vocab.types[size_t(id)] == TokenType::Control;
}

}  // namespace lowbit
