// Pre-tokenizer patterns as hand-written matchers. The text is decoded once
// into code points with a flag byte each; every pattern is a function
// match(text, pos, end) that returns the length of the match a backtracking
// regex engine would find at pos (alternatives tried in order, greedy
// quantifiers), or 0. A driver then scans for leftmost matches like findall.
#include "tokenizer/pretokenizer.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace lowbit {
namespace {

enum : uint8_t {
  kLetter = 1,   // \p{L}
  kNumber = 2,   // \p{N}
  kPunct = 4,    // \p{P}
  kSpace = 8,    // \s (White_Space)
  kNewline = 16, // \r or \n
};

struct DecodedText {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> flags;
  std::vector<uint32_t> offset;  // byte offset of each code point, plus the end
};

DecodedText decode_text(std::string_view text) {
  DecodedText t;
  t.cp.reserve(text.size());
  t.flags.reserve(text.size());
  t.offset.reserve(text.size() + 1);
  size_t i = 0;
  while (i < text.size()) {
    const unicode::Utf8Char c = unicode::decode_utf8(text.data() + i, text.size() - i);
    uint8_t f = 0;
    switch (unicode::char_class(c.cp)) {
      case unicode::CharClass::Letter: f = kLetter; break;
      case unicode::CharClass::Number: f = kNumber; break;
      case unicode::CharClass::Punctuation: f = kPunct; break;
      default: break;
    }
    if (unicode::is_whitespace(c.cp)) f |= kSpace;
    if (c.cp == '\r' || c.cp == '\n') f |= kNewline;
    t.cp.push_back(c.cp);
    t.flags.push_back(f);
    t.offset.push_back(uint32_t(i));
    i += c.len;
  }
  t.offset.push_back(uint32_t(i));
  return t;
}

struct Range {
  size_t begin, end;  // code point indices
};

using Matcher = size_t (*)(const DecodedText& t, size_t p, size_t end);

// Number of consecutive code points from p (before end) satisfying pred.
template <typename Pred>
inline size_t run(const DecodedText& t, size_t p, size_t end, Pred pred) {
  size_t r = p;
  while (r < end && pred(t.cp[r], t.flags[r])) ++r;
  return r - p;
}

inline bool has(uint8_t flags, uint8_t bit) { return (flags & bit) != 0; }
// [^\s\p{L}\p{N}]
inline bool is_other(uint8_t flags) { return (flags & (kLetter | kNumber | kSpace)) == 0; }

const auto kIsLetter = [](uint32_t, uint8_t f) { return has(f, kLetter); };
const auto kIsNumber = [](uint32_t, uint8_t f) { return has(f, kNumber); };
const auto kIsOther = [](uint32_t, uint8_t f) { return is_other(f); };
const auto kIsSpace = [](uint32_t, uint8_t f) { return has(f, kSpace); };

// \s+(?!\S)|\s+ at a whitespace code point: the whole run when it reaches the
// end or is a single character, else the run minus its last character (which
// then prefixes the following word).
inline size_t match_space_run(const DecodedText& t, size_t p, size_t end) {
  const size_t n = run(t, p, end, kIsSpace);
  if (p + n == end || n == 1) return n;
  return n - 1;
}

// 's|'t|'re|'ve|'m|'ll|'d, optionally ignoring case (ASCII, plus the long s
// that case-folds to 's').
inline size_t match_contraction(const DecodedText& t, size_t p, size_t end, bool ignore_case) {
  if (t.cp[p] != '\'' || p + 1 >= end) return 0;
  auto fold = [ignore_case](uint32_t c) -> uint32_t {
    if (!ignore_case) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';
    return c;
  };
  const uint32_t a = fold(t.cp[p + 1]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (p + 2 < end) {
    const uint32_t b = fold(t.cp[p + 2]);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const DecodedText& t, size_t p, size_t end) {
  if (size_t n = match_contraction(t, p, end, false)) return n;
  // An optional leading space joins whatever non-space run follows it.
  size_t q = p;
  if (t.cp[p] == ' ' && p + 1 < end && !has(t.flags[p + 1], kSpace)) q = p + 1;
  const uint8_t f = t.flags[q];
  if (has(f, kLetter)) return q - p + run(t, q, end, kIsLetter);
  if (has(f, kNumber)) return q - p + run(t, q, end, kIsNumber);
  if (is_other(f)) return q - p + run(t, q, end, kIsOther);
  return match_space_run(t, p, end);
}

// Llama-3 / Qwen2 family; max_digits is 3 for Llama-3 and 1 for Qwen2.
template <size_t max_digits>
size_t match_llama3(const DecodedText& t, size_t p, size_t end) {
  if (size_t n = match_contraction(t, p, end, true)) return n;
  const uint8_t f = t.flags[p];
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (has(f, kLetter)) return run(t, p, end, kIsLetter);
  if (!has(f, kNewline | kNumber) && p + 1 < end && has(t.flags[p + 1], kLetter))
    return 1 + run(t, p + 1, end, kIsLetter);
  // \p{N}{1,max_digits}
  if (has(f, kNumber)) return std::min(max_digits, run(t, p, end, kIsNumber));
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t q = p;
  if (t.cp[p] == ' ' && p + 1 < end && is_other(t.flags[p + 1])) q = p + 1;
  if (is_other(t.flags[q])) {
    size_t r = q + run(t, q, end, kIsOther);
    while (r < end && has(t.flags[r], kNewline)) ++r;
    return r - p;
  }
  // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
  const size_t n = run(t, p, end, kIsSpace);
  for (size_t j = p + n; j > p; --j) {
    if (has(t.flags[j - 1], kNewline)) return j - p;
  }
  return match_space_run(t, p, end);
}

// [\r\n]
size_t match_newline(const DecodedText& t, size_t p, size_t) { return has(t.flags[p], kNewline) ? 1 : 0; }

// \s?X+ : an optional whitespace character followed by a run of class X.
template <typename Pred>
inline size_t match_optional_space_run(const DecodedText& t, size_t p, size_t end, Pred pred) {
  if (has(t.flags[p], kSpace) && p + 1 < end && pred(t.cp[p + 1], t.flags[p + 1])) {
    return 1 + run(t, p + 1, end, pred);
  }
  return run(t, p, end, pred);
}

// The cased-letter class of DeepSeek-LLM's pattern (as written in its
// tokenizer.json, which predates some Unicode additions).
bool is_deepseek_letter(uint32_t c) {
  static constexpr uint32_t kRanges[][2] = {
      {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
      {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
      {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
      {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
      {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF},
      {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
      {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B},
      {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
      {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC},
      {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113},
      {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128},
      {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
      {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE},
      {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787},
      {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A},
      {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
      {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
  };
  if (c < 0x80) return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  for (const auto& r : kRanges) {
    if (c < r[0]) return false;
    if (c <= r[1]) return true;
  }
  return false;
}

// [!-/:-~！-／：-～‘-‟　-。]
bool is_deepseek_punct(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x7E) || (c >= 0xFF01 && c <= 0xFF0F) ||
         (c >= 0xFF1A && c <= 0xFF5E) || (c >= 0x2018 && c <= 0x201F) || (c >= 0x3000 && c <= 0x3002);
}

// [一-龥ࠀ-一가-퟿]
bool is_deepseek_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) || (c >= 0xAC00 && c <= 0xD7FF);
}

size_t match_deepseek_letters(const DecodedText& t, size_t p, size_t end) {
  return match_optional_space_run(t, p, end, [](uint32_t c, uint8_t) { return is_deepseek_letter(c); });
}
size_t match_deepseek_punct(const DecodedText& t, size_t p, size_t end) {
  return match_optional_space_run(t, p, end, [](uint32_t c, uint8_t) { return is_deepseek_punct(c); });
}
// \s+$
size_t match_trailing_space(const DecodedText& t, size_t p, size_t end) {
  const size_t n = run(t, p, end, kIsSpace);
  return (n > 0 && p + n == end) ? n : 0;
}
size_t match_cjk_run(const DecodedText& t, size_t p, size_t end) {
  return run(t, p, end, [](uint32_t c, uint8_t) { return is_deepseek_cjk(c); });
}
size_t match_number_run(const DecodedText& t, size_t p, size_t end) { return run(t, p, end, kIsNumber); }
size_t match_one_number(const DecodedText& t, size_t p, size_t) { return has(t.flags[p], kNumber) ? 1 : 0; }
// \s?\p{L}+ and \s?\p{P}+
size_t match_space_letters(const DecodedText& t, size_t p, size_t end) {
  return match_optional_space_run(t, p, end, kIsLetter);
}
size_t match_space_punct(const DecodedText& t, size_t p, size_t end) {
  return match_optional_space_run(t, p, end, [](uint32_t, uint8_t f) { return has(f, kPunct); });
}
// [0-9][0-9][0-9]
size_t match_three_digits(const DecodedText& t, size_t p, size_t end) {
  if (p + 3 > end) return 0;
  for (size_t i = p; i < p + 3; ++i) {
    if (t.cp[i] < '0' || t.cp[i] > '9') return 0;
  }
  return 3;
}
// [\p{P}\$\+<=>\^~\|`]+ (Falcon) and the same without the backtick (Default).
template <bool with_backtick>
size_t match_punct_symbols(const DecodedText& t, size_t p, size_t end) {
  return run(t, p, end, [](uint32_t c, uint8_t f) {
    if (has(f, kPunct)) return true;
    switch (c) {
      case '$': case '+': case '<': case '=': case '>': case '^': case '~': case '|': return true;
      case '`': return with_backtick;
      default: return false;
    }
  });
}

// One pattern pass: every piece is cut into matches and the gaps between.
void split_pass(const DecodedText& t, const std::vector<Range>& in, Matcher match, std::vector<Range>& out) {
  out.clear();
  for (const Range& piece : in) {
    size_t gap = piece.begin;
    size_t p = piece.begin;
    while (p < piece.end) {
      const size_t n = match(t, p, piece.end);
      if (n == 0) {
        ++p;
        continue;
      }
      if (gap < p) out.push_back({gap, p});
      out.push_back({p, p + n});
      p += n;
      gap = p;
    }
    if (gap < piece.end) out.push_back({gap, piece.end});
  }
}

std::vector<Matcher> patterns_of(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::Gpt2: return {match_gpt2};
    case PreTokenizer::Llama3: return {match_llama3<3>};
    case PreTokenizer::Qwen2: return {match_llama3<1>};
    case PreTokenizer::DeepseekLlm:
      return {match_newline, match_deepseek_letters, match_deepseek_punct, match_trailing_space, match_cjk_run,
              match_number_run};
    case PreTokenizer::DeepseekCoder:
      return {match_newline, match_space_letters, match_space_punct, match_cjk_run, match_one_number};
    case PreTokenizer::Falcon: return {match_punct_symbols<true>, match_gpt2, match_three_digits};
    case PreTokenizer::Starcoder: return {match_one_number, match_gpt2};
    case PreTokenizer::Default:
      return {match_punct_symbols<false>, match_gpt2, match_number_run, match_three_digits};
  }
  return {match_gpt2};
}

struct NamedPre {
  const char* name;
  PreTokenizer kind;
};

// tokenizer.ggml.pre values as llama.cpp's converter writes them.
constexpr NamedPre kPreNames[] = {
    {"default", PreTokenizer::Default},
    {"llama3", PreTokenizer::Llama3}, {"llama-v3", PreTokenizer::Llama3}, {"llama-bpe", PreTokenizer::Llama3},
    {"falcon3", PreTokenizer::Llama3}, {"pixtral", PreTokenizer::Llama3}, {"dbrx", PreTokenizer::Llama3},
    {"smaug-bpe", PreTokenizer::Llama3},
    {"qwen2", PreTokenizer::Qwen2}, {"stablelm2", PreTokenizer::Qwen2}, {"hunyuan", PreTokenizer::Qwen2},
    {"deepseek-llm", PreTokenizer::DeepseekLlm},
    {"deepseek-coder", PreTokenizer::DeepseekCoder},
    {"falcon", PreTokenizer::Falcon},
    {"starcoder", PreTokenizer::Starcoder}, {"refact", PreTokenizer::Starcoder},
    {"command-r", PreTokenizer::Starcoder}, {"smollm", PreTokenizer::Starcoder},
    {"codeshell", PreTokenizer::Starcoder}, {"exaone", PreTokenizer::Starcoder},
    {"minerva-7b", PreTokenizer::Starcoder},
    {"gpt-2", PreTokenizer::Gpt2}, {"gpt2", PreTokenizer::Gpt2}, {"mpt", PreTokenizer::Gpt2},
    {"olmo", PreTokenizer::Gpt2}, {"jais", PreTokenizer::Gpt2}, {"phi-2", PreTokenizer::Gpt2},
    {"roberta-bpe", PreTokenizer::Gpt2}, {"gigachat", PreTokenizer::Gpt2},
    {"jina-es", PreTokenizer::Gpt2}, {"jina-de", PreTokenizer::Gpt2}, {"jina-v2-es", PreTokenizer::Gpt2},
    {"jina-v2-de", PreTokenizer::Gpt2}, {"jina-v2-code", PreTokenizer::Gpt2},
};

}  // namespace

PreTokenizer pre_tokenizer_from_name(std::string_view name) {
  if (name.empty()) return PreTokenizer::Default;
  for (const NamedPre& p : kPreNames) {
    if (name == p.name) return p.kind;
  }
  fail("unknown tokenizer.ggml.pre '{}' (supported: default, gpt-2, mpt, llama-bpe, qwen2, deepseek-llm, "
       "deepseek-coder, falcon, starcoder, refact, ...)",
       std::string(name));
}

const char* pre_tokenizer_name(PreTokenizer kind) {
  switch (kind) {
    case PreTokenizer::Gpt2: return "gpt-2";
    case PreTokenizer::Llama3: return "llama-bpe";
    case PreTokenizer::Qwen2: return "qwen2";
    case PreTokenizer::DeepseekLlm: return "deepseek-llm";
    case PreTokenizer::DeepseekCoder: return "deepseek-coder";
    case PreTokenizer::Falcon: return "falcon";
    case PreTokenizer::Starcoder: return "starcoder";
    case PreTokenizer::Default: return "default";
  }
  return "?";
}

std::vector<TextPiece> pre_tokenize(PreTokenizer kind, std::string_view text) {
  std::vector<TextPiece> pieces;
  if (text.empty()) return pieces;
  const DecodedText t = decode_text(text);
  std::vector<Range> current{{0, t.cp.size()}}, next;
  for (Matcher m : patterns_of(kind)) {
    split_pass(t, current, m, next);
    current.swap(next);
  }
  pieces.reserve(current.size());
  for (const Range& r : current) pieces.push_back({t.offset[r.begin], t.offset[r.end]});
  return pieces;
}

}  // namespace lowbit
