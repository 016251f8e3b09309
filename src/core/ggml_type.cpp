#include "core/ggml_type.h"

#include <cctype>

#include "core/error.h"

namespace lowbit {
namespace {

constexpr TypeTraits kTypes[] = {
    {GgmlType::F32, "F32", 1, 4, false, true},
    {GgmlType::F16, "F16", 1, 2, false, true},
    {GgmlType::Q4_0, "Q4_0", 32, 18, true, true},
    {GgmlType::Q4_1, "Q4_1", 32, 20, true, true},
    {GgmlType::Q5_0, "Q5_0", 32, 22, true, true},
    {GgmlType::Q5_1, "Q5_1", 32, 24, true, true},
    {GgmlType::Q8_0, "Q8_0", 32, 34, true, true},
    {GgmlType::Q8_1, "Q8_1", 32, 36, true, false},
    {GgmlType::Q2_K, "Q2_K", 256, 84, true, true},
    {GgmlType::Q3_K, "Q3_K", 256, 110, true, true},
    {GgmlType::Q4_K, "Q4_K", 256, 144, true, true},
    {GgmlType::Q5_K, "Q5_K", 256, 176, true, true},
    {GgmlType::Q6_K, "Q6_K", 256, 210, true, true},
    {GgmlType::Q8_K, "Q8_K", 256, 292, true, true},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66, true, false},
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 74, true, false},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98, true, false},
    {GgmlType::IQ1_S, "IQ1_S", 256, 50, true, false},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18, true, true},
    {GgmlType::IQ3_S, "IQ3_S", 256, 110, true, false},
    {GgmlType::IQ2_S, "IQ2_S", 256, 82, true, false},
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136, true, true},
    {GgmlType::I8, "I8", 1, 1, false, false},
    {GgmlType::I16, "I16", 1, 2, false, false},
    {GgmlType::I32, "I32", 1, 4, false, false},
    {GgmlType::I64, "I64", 1, 8, false, false},
    {GgmlType::F64, "F64", 1, 8, false, false},
    {GgmlType::IQ1_M, "IQ1_M", 256, 56, true, false},
    {GgmlType::BF16, "BF16", 1, 2, false, true},
    {GgmlType::TQ1_0, "TQ1_0", 256, 54, true, false},
    {GgmlType::TQ2_0, "TQ2_0", 256, 66, true, false},
    {GgmlType::MXFP4, "MXFP4", 32, 17, true, false},
};

}  // namespace

const TypeTraits* find_type(uint32_t id) {
  for (const auto& t : kTypes)
    if (uint32_t(t.type) == id) return &t;
  return nullptr;
}

const TypeTraits& type_traits(GgmlType type) {
  const TypeTraits* t = find_type(uint32_t(type));
  if (!t) fail("unknown ggml type id {}", uint32_t(type));
  return *t;
}

std::optional<GgmlType> type_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    std::string_view n = t.name;
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size(); ++i)
      if (std::toupper(static_cast<unsigned char>(name[i])) != n[i]) same = false;
    if (same) return t.type;
  }
  return std::nullopt;
}

std::string type_name(uint32_t id) {
  if (const TypeTraits* t = find_type(id)) return t->name;
  return fmt::format("type {} (unknown)", id);
}

size_t row_bytes(GgmlType t, int64_t n) {
  const TypeTraits& tr = type_traits(t);
  if (n < 0 || n % tr.block_size != 0)
    fail("row of {} weights is not a whole number of {} blocks ({} weights each)", n, tr.name, tr.block_size);
  return size_t(n / tr.block_size) * tr.bytes_per_block;
}

double bits_per_weight(GgmlType t) {
  const TypeTraits& tr = type_traits(t);
  return 8.0 * double(tr.bytes_per_block) / double(tr.block_size);
}

}  // namespace lowbit
