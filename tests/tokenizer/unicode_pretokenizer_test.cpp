// Unicode tables, UTF-8 decoding, GPT-2's byte alphabet and the split
// patterns. Expected values come from the Unicode standard, GPT-2's
// published byte mapping, and the regex definitions worked through by hand
// (and checked against Python's `regex` module on the real patterns).
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace lowbit {
namespace {

using unicode::CharClass;

TEST(Unicode, GeneralCategoryClasses) {
  EXPECT_EQ(unicode::char_class('A'), CharClass::Letter);
  EXPECT_EQ(unicode::char_class('z'), CharClass::Letter);
  EXPECT_EQ(unicode::char_class('7'), CharClass::Number);
  EXPECT_EQ(unicode::char_class('!'), CharClass::Punctuation);
  EXPECT_EQ(unicode::char_class('$'), CharClass::Symbol);
  EXPECT_EQ(unicode::char_class('+'), CharClass::Symbol);
  EXPECT_EQ(unicode::char_class(' '), CharClass::Separator);
  EXPECT_EQ(unicode::char_class('\n'), CharClass::Other);
  EXPECT_EQ(unicode::char_class(0xBD), CharClass::Number);     // ½ (No)
  EXPECT_EQ(unicode::char_class(0x0663), CharClass::Number);   // Arabic-Indic three (Nd)
  EXPECT_EQ(unicode::char_class(0x216B), CharClass::Number);   // Roman numeral twelve (Nl)
  EXPECT_EQ(unicode::char_class(0x0301), CharClass::Mark);     // combining acute
  EXPECT_EQ(unicode::char_class(0x17B6), CharClass::Mark);     // Khmer vowel sign aa (Mc)
  EXPECT_EQ(unicode::char_class(0x1780), CharClass::Letter);   // Khmer ka
  EXPECT_EQ(unicode::char_class(0x4E16), CharClass::Letter);   // 世
  EXPECT_EQ(unicode::char_class(0x00AB), CharClass::Punctuation);  // « (Pi)
  EXPECT_EQ(unicode::char_class(0x2014), CharClass::Punctuation);  // em dash (Pd)
  EXPECT_EQ(unicode::char_class(0x3000), CharClass::Separator);    // ideographic space
  EXPECT_EQ(unicode::char_class(0xE000), CharClass::Other);        // private use
  EXPECT_EQ(unicode::char_class(0x1F600), CharClass::Symbol);      // 😀
  EXPECT_EQ(unicode::char_class(0x10400), CharClass::Letter);      // Deseret capital long i
  EXPECT_EQ(unicode::char_class(0x1D7CE), CharClass::Number);      // mathematical bold digit zero
  EXPECT_EQ(unicode::char_class(0x20000), CharClass::Letter);      // CJK extension B
  EXPECT_EQ(unicode::char_class(0x10FFFF), CharClass::Other);
  EXPECT_EQ(unicode::char_class(unicode::kInvalidCodepoint), CharClass::Other);
}

TEST(Unicode, WhiteSpaceProperty) {
  for (uint32_t cp : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u,
                      0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    EXPECT_TRUE(unicode::is_whitespace(cp)) << std::hex << cp;
  }
  for (uint32_t cp : {0x08u, 0x1Cu, 0x21u, 0x200Bu, 0x180Eu, 0xFEFFu, 0x2581u}) {
    EXPECT_FALSE(unicode::is_whitespace(cp)) << std::hex << cp;
  }
}

TEST(Unicode, Utf8DecodeAndEncode) {
  auto dec = [](std::string_view s) { return unicode::decode_utf8(s.data(), s.size()); };
  EXPECT_EQ(dec("A").cp, 0x41u);
  EXPECT_EQ(dec("\xC3\xA9").cp, 0xE9u);
  EXPECT_EQ(dec("\xC3\xA9").len, 2u);
  EXPECT_EQ(dec("\xE2\x96\x81").cp, 0x2581u);
  EXPECT_EQ(dec("\xF0\x9F\xA6\x99").cp, 0x1F999u);  // 🦙
  EXPECT_EQ(dec("\xF0\x9F\xA6\x99").len, 4u);
  // Malformed input: one invalid code point per byte.
  for (std::string_view bad : {std::string_view("\xC0\x80"), std::string_view("\xED\xA0\x80"),
                               std::string_view("\xF4\x90\x80\x80"), std::string_view("\xE2\x82"),
                               std::string_view("\x80"), std::string_view("\xFF"), std::string_view("\xC3(")}) {
    const unicode::Utf8Char c = dec(bad);
    EXPECT_EQ(c.cp, unicode::kInvalidCodepoint);
    EXPECT_EQ(c.len, 1u);
  }
  for (uint32_t cp : {0x24u, 0xA2u, 0x939u, 0x20ACu, 0xD55Cu, 0x10348u, 0x10FFFFu}) {
    std::string s;
    unicode::append_utf8(s, cp);
    EXPECT_EQ(dec(s).cp, cp);
    EXPECT_EQ(dec(s).len, s.size());
  }
}

TEST(Unicode, Gpt2ByteAlphabet) {
  EXPECT_EQ(unicode::byte_to_codepoint('A'), uint32_t('A'));
  EXPECT_EQ(unicode::byte_to_codepoint('~'), uint32_t('~'));
  EXPECT_EQ(unicode::byte_to_codepoint(0xE9), 0xE9u);
  EXPECT_EQ(unicode::byte_to_codepoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(unicode::byte_to_codepoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(unicode::byte_to_codepoint('\r'), 0x10Du);  // č
  EXPECT_EQ(unicode::byte_to_codepoint(0x00), 0x100u);
  EXPECT_EQ(unicode::byte_to_codepoint(0x7F), 0x121u);
  EXPECT_EQ(unicode::byte_to_codepoint(0xAD), 0x143u);  // the last of the 68 remapped bytes
  for (int b = 0; b < 256; ++b) EXPECT_EQ(unicode::codepoint_to_byte(unicode::byte_to_codepoint(uint8_t(b))), b);
  EXPECT_EQ(unicode::codepoint_to_byte(0x144), -1);
  EXPECT_EQ(unicode::codepoint_to_byte(0x2581), -1);
}

std::vector<std::string> split(const char* pre, std::string_view text) {
  std::vector<std::string> out;
  for (const TextPiece& p : pre_tokenize(pre_tokenizer_from_name(pre), text)) {
    out.emplace_back(text.substr(p.begin, p.end - p.begin));
  }
  return out;
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, Gpt2Pattern) {
  EXPECT_EQ(split("gpt-2", "I've  been"), (Pieces{"I", "'ve", " ", " been"}));
  EXPECT_EQ(split("gpt-2", "3.14159"), (Pieces{"3", ".", "14159"}));
  EXPECT_EQ(split("gpt-2", "a\n\nb"), (Pieces{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split("gpt-2", "DON'T stop"), (Pieces{"DON", "'", "T", " stop"}));  // contractions are case-sensitive
  EXPECT_EQ(split("gpt-2", "  "), (Pieces{"  "}));
  EXPECT_EQ(split("mpt", "I've  been"), split("gpt-2", "I've  been"));
}

TEST(PreTokenizer, Llama3AndQwen2Patterns) {
  EXPECT_EQ(split("llama-bpe", "Hello, World!!\n\n123456"), (Pieces{"Hello", ",", " World", "!!\n\n", "123", "456"}));
  EXPECT_EQ(split("llama-bpe", "  \n  x"), (Pieces{"  \n", " ", " x"}));
  EXPECT_EQ(split("llama-bpe", "DON'T"), (Pieces{"DON", "'T"}));
  EXPECT_EQ(split("llama-bpe", "\xC3\xA9t\xC3\xA9\xC2\xA0\xC3\xA0 Paris\r\n"),
            (Pieces{"\xC3\xA9t\xC3\xA9", "\xC2\xA0\xC3\xA0", " Paris", "\r\n"}));
  EXPECT_EQ(split("qwen2", "12345 (ab)"), (Pieces{"1", "2", "3", "4", "5", " (", "ab", ")"}));
}

TEST(PreTokenizer, MultiPassPatterns) {
  EXPECT_EQ(split("deepseek-coder", "foo(bar)\n123"), (Pieces{"foo", "(", "bar", ")", "\n", "1", "2", "3"}));
  EXPECT_EQ(split("deepseek-llm", "Hi \xE4\xB8\x96\xE7\x95\x8C  \n"),
            (Pieces{"Hi", " ", "\xE4\xB8\x96\xE7\x95\x8C", "  ", "\n"}));
  EXPECT_EQ(split("falcon", "a+b=1234"), (Pieces{"a", "+", "b", "=", "123", "4"}));
  EXPECT_EQ(split("starcoder", "x12 y"), (Pieces{"x", "1", "2", " y"}));
  EXPECT_EQ(split("refact", "x12 y"), (Pieces{"x", "1", "2", " y"}));
  EXPECT_EQ(split("default", "x=12345!"), (Pieces{"x", "=", "123", "45", "!"}));
}

TEST(PreTokenizer, CoversTextExactlyEvenWhenMalformed) {
  const std::string text = "ab\xFF\xC3 \xE2\x82\n12\x80x";
  for (const char* pre : {"gpt-2", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder", "falcon", "starcoder", "default"}) {
    size_t pos = 0;
    for (const TextPiece& p : pre_tokenize(pre_tokenizer_from_name(pre), text)) {
      EXPECT_EQ(p.begin, pos) << pre;
      EXPECT_GT(p.end, p.begin) << pre;
      pos = p.end;
    }
    EXPECT_EQ(pos, text.size()) << pre;
  }
  EXPECT_TRUE(pre_tokenize(PreTokenizer::Gpt2, "").empty());
}

TEST(PreTokenizer, UnknownNameIsAnError) {
  EXPECT_THROW(pre_tokenizer_from_name("no-such-pre"), Error);
  EXPECT_EQ(pre_tokenizer_from_name(""), PreTokenizer::Default);
  EXPECT_EQ(pre_tokenizer_from_name("llama3"), PreTokenizer::Llama3);
}

}  // namespace
}  // namespace lowbit
