// The ggml tensor type ids as GGUF stores them, with the size facts every reader needs (block size,
// bytes per block, name), for all ids ggml defines, including the ones strix cannot (de)quantize
// yet: a file using them can still be inspected, and converting it fails with a clear error.
#pragma once

#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <strix/core/error.hpp>

namespace strix {

enum class ggml_type : std::uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23,
  i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35,
  mxfp4 = 39, nvfp4 = 40,
};

struct ggml_type_traits {
  ggml_type type;
  std::string_view name;  // ggml's own lower-case name
  std::uint32_t block_size;
  std::uint32_t block_bytes;
};

inline constexpr std::array<ggml_type_traits, 33> ggml_type_table{{
    {ggml_type::f32, "f32", 1, 4},         {ggml_type::f16, "f16", 1, 2},
    {ggml_type::q4_0, "q4_0", 32, 18},     {ggml_type::q4_1, "q4_1", 32, 20},
    {ggml_type::q5_0, "q5_0", 32, 22},     {ggml_type::q5_1, "q5_1", 32, 24},
    {ggml_type::q8_0, "q8_0", 32, 34},     {ggml_type::q8_1, "q8_1", 32, 36},
    {ggml_type::q2_k, "q2_K", 256, 84},    {ggml_type::q3_k, "q3_K", 256, 110},
    {ggml_type::q4_k, "q4_K", 256, 144},   {ggml_type::q5_k, "q5_K", 256, 176},
    {ggml_type::q6_k, "q6_K", 256, 210},   {ggml_type::q8_k, "q8_K", 256, 292},
    {ggml_type::iq2_xxs, "iq2_xxs", 256, 66}, {ggml_type::iq2_xs, "iq2_xs", 256, 74},
    {ggml_type::iq3_xxs, "iq3_xxs", 256, 98}, {ggml_type::iq1_s, "iq1_s", 256, 50},
    {ggml_type::iq4_nl, "iq4_nl", 32, 18}, {ggml_type::iq3_s, "iq3_s", 256, 110},
    {ggml_type::iq2_s, "iq2_s", 256, 82},  {ggml_type::iq4_xs, "iq4_xs", 256, 136},
    {ggml_type::i8, "i8", 1, 1},           {ggml_type::i16, "i16", 1, 2},
    {ggml_type::i32, "i32", 1, 4},         {ggml_type::i64, "i64", 1, 8},
    {ggml_type::f64, "f64", 1, 8},         {ggml_type::iq1_m, "iq1_m", 256, 56},
    {ggml_type::bf16, "bf16", 1, 2},       {ggml_type::tq1_0, "tq1_0", 256, 54},
    {ggml_type::tq2_0, "tq2_0", 256, 66},  {ggml_type::mxfp4, "mxfp4", 32, 17},
    {ggml_type::nvfp4, "nvfp4", 64, 36},
}};

// The traits of a raw type id read from a file, or nothing when ggml defines no such type.
constexpr std::optional<ggml_type_traits> find_ggml_type(std::uint32_t id) noexcept {
  for (const auto& traits : ggml_type_table) {
    if (static_cast<std::uint32_t>(traits.type) == id) return traits;
  }
  return std::nullopt;
}

constexpr const ggml_type_traits& traits_of(ggml_type type) noexcept {
  for (const auto& traits : ggml_type_table) {
    if (traits.type == type) return traits;
  }
  return ggml_type_table[0];  // unreachable for enumerators
}

constexpr std::string_view name_of(ggml_type type) noexcept { return traits_of(type).name; }

// The type ggml names `name` (q4_K, bf16, ...; case-insensitive); an unknown name is an
// `unsupported` error listing the known ones.
inline ggml_type ggml_type_named(std::string_view name) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  std::string known;
  for (const auto& traits : ggml_type_table) {
    if (lower(traits.name) == lower(name)) return traits.type;
    known += (known.empty() ? "" : ", ") + std::string(traits.name);
  }
  throw error(error_category::unsupported, "unknown ggml type '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace strix
