// Unicode helpers for the tokenizers: UTF-8 decoding that never fails (each
// invalid byte becomes one kInvalidCodepoint), the general-category class of
// a code point (generated tables, see gen_unicode_tables.py), the White_Space
// property, and GPT-2's byte <-> printable code point mapping used by
// byte-level BPE vocabularies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace lowbit::unicode {

// Major general-category class; numbering is shared with unicode_tables.cpp.
enum class CharClass : uint8_t {
  Other = 0,        // C* (control, format, unassigned, ...) and invalid bytes
  Letter = 1,       // L*  (\p{L})
  Mark = 2,         // M*
  Number = 3,       // N*  (\p{N})
  Punctuation = 4,  // P*  (\p{P})
  Symbol = 5,       // S*
  Separator = 6,    // Z*
};

constexpr uint32_t kInvalidCodepoint = 0x110000;  // stands for one undecodable byte

CharClass char_class(uint32_t cp);
// Unicode White_Space (what \s matches in Oniguruma / Python regex).
bool is_whitespace(uint32_t cp);

struct Utf8Char {
  uint32_t cp;   // kInvalidCodepoint for a malformed sequence
  uint32_t len;  // bytes consumed, >= 1
};
// Decodes the UTF-8 sequence at s[0..n), n >= 1. Overlong forms, surrogates,
// values above U+10FFFF and truncated sequences decode as one invalid byte.
Utf8Char decode_utf8(const char* s, size_t n);
void append_utf8(std::string& out, uint32_t cp);
// Length of a sequence from its lead byte alone (1 for continuation bytes),
// as SentencePiece-style tokenizers split text into symbols.
inline size_t utf8_lead_length(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// GPT-2 byte-level alphabet: printable bytes map to themselves, the other 68
// bytes to U+0100.. in byte order, so every byte has a visible character.
uint32_t byte_to_codepoint(uint8_t byte);
// Inverse of byte_to_codepoint; -1 when cp is none of the 256 characters.
int codepoint_to_byte(uint32_t cp);

}  // namespace lowbit::unicode
