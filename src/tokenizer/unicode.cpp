// Unicode lookups for the tokenizers. Category classes come from the range
// list in unicode_tables.cpp; the Basic Multilingual Plane is expanded once
// into a 64 KiB table so the common case is one array read.
#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace lowbit::unicode_detail {
extern const uint32_t kClassRanges[];
extern const size_t kClassRangeCount;
}  // namespace lowbit::unicode_detail

namespace lowbit::unicode {
namespace {

using unicode_detail::kClassRangeCount;
using unicode_detail::kClassRanges;

CharClass class_by_search(uint32_t cp) {
  // Last range whose start is <= cp.
  const uint32_t key = (cp << 3) | 7u;
  const uint32_t* end = kClassRanges + kClassRangeCount;
  const uint32_t* it = std::upper_bound(kClassRanges, end, key);
  if (it == kClassRanges) return CharClass::Other;
  return static_cast<CharClass>(it[-1] & 7u);
}

const std::array<uint8_t, 0x10000>& bmp_table() {
  static const std::array<uint8_t, 0x10000> table = [] {
    std::array<uint8_t, 0x10000> t{};
    for (size_t i = 0; i < kClassRangeCount; ++i) {
      const uint32_t start = kClassRanges[i] >> 3;
      if (start >= 0x10000) break;
      const uint32_t stop = i + 1 < kClassRangeCount ? std::min<uint32_t>(kClassRanges[i + 1] >> 3, 0x10000) : 0x10000;
      std::fill(t.begin() + start, t.begin() + stop, static_cast<uint8_t>(kClassRanges[i] & 7u));
    }
    return t;
  }();
  return table;
}

struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> from_cp{};  // every mapped code point is < 0x144
};

const ByteMap& byte_map() {
  static const ByteMap map = [] {
    ByteMap m;
    m.from_cp.fill(-1);
    uint32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? uint32_t(b) : next_extra++;
      m.to_cp[b] = cp;
      m.from_cp[cp] = int16_t(b);
    }
    return m;
  }();
  return map;
}

}  // namespace

CharClass char_class(uint32_t cp) {
  if (cp < 0x10000) return static_cast<CharClass>(bmp_table()[cp]);
  if (cp >= 0x110000) return CharClass::Other;
  return class_by_search(cp);
}

bool is_whitespace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

Utf8Char decode_utf8(const char* s, size_t n) {
  const auto* u = reinterpret_cast<const uint8_t*>(s);
  const uint8_t b0 = u[0];
  if (b0 < 0x80) return {b0, 1};
  size_t len;
  uint32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) { len = 2; cp = b0 & 0x1F; min = 0x80; }
  else if ((b0 & 0xF0) == 0xE0) { len = 3; cp = b0 & 0x0F; min = 0x800; }
  else if ((b0 & 0xF8) == 0xF0) { len = 4; cp = b0 & 0x07; min = 0x10000; }
  else return {kInvalidCodepoint, 1};
  if (len > n) return {kInvalidCodepoint, 1};
  for (size_t i = 1; i < len; ++i) {
    if ((u[i] & 0xC0) != 0x80) return {kInvalidCodepoint, 1};
    cp = (cp << 6) | (u[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {kInvalidCodepoint, 1};
  return {cp, uint32_t(len)};
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

uint32_t byte_to_codepoint(uint8_t byte) { return byte_map().to_cp[byte]; }

int codepoint_to_byte(uint32_t cp) { return cp < 512 ? byte_map().from_cp[cp] : -1; }

}  // namespace lowbit::unicode
