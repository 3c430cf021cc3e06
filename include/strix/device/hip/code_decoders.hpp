// Integer decoding of GGUF weight formats for the int8 dot-product path of the GPU matmul: a unit
// of 32 weights (unit_decoders.hpp) as 32 signed 8-bit codes packed four to a 32-bit word, with a
// scale and an offset per 16 weights such that weight_k = scale · code_k − offset. Against int8
// activations (quantize_q8_kernel) one dot4_i8 multiplies four weights, where the float path spends
// a decode, a conversion and an FMA on each. A lane decodes a whole unit per step, so a block's
// scales are unpacked once per 32 weights (once per 8 cost a third of the K-quant matmul's
// instructions, docs/performance.md), and codes come out of whole words with masks and shifts;
// only the non-linear 4-bit tables (IQ4_XS, MXFP4) need a lookup per code. The tests hold these to
// the float decoders.
#pragma once

#include <cstddef>
#include <cstdint>

#include <strix/device/hip/host_device.hpp>
#include <strix/device/hip/unit_decoders.hpp>
#include <strix/quant/formats.hpp>

namespace strix::hip_kernels {

struct unit_codes {
  std::uint32_t words[unit_size / 4];  // weight k of the unit is byte k % 4 of word k / 4
  float scale[2];                      // of weights 0-15 and 16-31 (equal but for Q6_K)
  float offset[2];
};

// The N little-endian words starting at p, which is Align-aligned (1, 2 or 4): aligned word loads
// (one more when p is not 4-aligned) joined by funnel shifts, rather than byte loads and shifts.
// The unaligned case reads up to 3 bytes past the last word, inside the staged chunk's padding.
template <int N, int Align>
STRIX_HOST_DEVICE inline void load_words(const std::uint8_t* p, std::uint32_t (&w)[N]) {
  if constexpr (Align % 4 == 0) {
    const auto* words = reinterpret_cast<const std::uint32_t*>(p);
    STRIX_UNROLL
    for (int i = 0; i < N; ++i) w[i] = words[i];
  } else {
    // Pointer arithmetic rather than masking keeps the pointer's address space known.
    const auto misalignment = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(p) & 3);
    const auto* words = reinterpret_cast<const std::uint32_t*>(p - misalignment);
    std::uint32_t raw[N + 1];
    STRIX_UNROLL
    for (int i = 0; i <= N; ++i) raw[i] = words[i];
    STRIX_UNROLL
    for (int i = 0; i < N; ++i) w[i] = gpu::funnel_shift_right(raw[i], raw[i + 1], 8 * misalignment);
  }
}

inline constexpr std::uint32_t low_nibbles = 0x0f0f0f0fu;

// The codes of a unit in the 4-bit layout of Q4_0, MXFP4 and IQ4_XS, whose 16 bytes start at qs
// (Align-aligned): weights 0-15 in their low nibbles, 16-31 in their high ones; each code in the
// low half of its byte.
template <int Align>
STRIX_HOST_DEVICE inline unit_codes nibble_unit(const std::uint8_t* qs) {
  std::uint32_t packed[4];
  load_words<4, Align>(qs, packed);
  unit_codes u;
  STRIX_UNROLL
  for (int i = 0; i < 4; ++i) {
    u.words[i] = packed[i] & low_nibbles;
    u.words[i + 4] = (packed[i] >> 4) & low_nibbles;
  }
  return u;
}

// A 16-entry table of signed bytes packed as two 64-bit words (entries 0-7, 8-15): the bytes of
// `nibbles` (each < 16) replaced by their entries, with shifts rather than an indexed array (which
// would live in slow per-thread memory).
STRIX_HOST_DEVICE inline std::uint32_t table_lookup(std::uint32_t nibbles, std::uint64_t low, std::uint64_t high) {
  std::uint32_t out = 0;
  STRIX_UNROLL
  for (int k = 0; k < 4; ++k) {
    const std::uint32_t index = (nibbles >> (8 * k)) & 0x0fu;
    const std::uint64_t half = index < 8 ? low : high;
    out |= static_cast<std::uint32_t>((half >> (8 * (index & 7))) & 0xffu) << (8 * k);
  }
  return out;
}

template <std::uint64_t Low, std::uint64_t High>
STRIX_HOST_DEVICE inline void lookup_all(std::uint32_t (&codes)[unit_size / 4]) {
  STRIX_UNROLL
  for (auto& word : codes) word = table_lookup(word, Low, High);
}

// One scale and offset for the whole unit.
STRIX_HOST_DEVICE inline void set_scale(unit_codes& u, float scale, float offset) {
  u.scale[0] = u.scale[1] = scale;
  u.offset[0] = u.offset[1] = offset;
}

// gpu_codes<Format>: decode(row, unit) → unit_codes; has_offset says whether an offset can be
// non-zero (the matmul then also needs the activation codes' sums).
template <class Format>
struct gpu_codes;

template <class Format>
concept has_gpu_codes = requires { gpu_codes<Format>::has_offset; };

template <>
struct gpu_codes<q8_0_format> {
  static constexpr bool has_offset = false;
  STRIX_HOST_DEVICE static unit_codes decode(const block_q8_0* row, row_index unit) {
    const block_q8_0& b = row[unit];
    unit_codes u;
    load_words<8, 2>(reinterpret_cast<const std::uint8_t*>(b.qs), u.words);
    set_scale(u, half_to_float(b.d), 0.0f);
    return u;
  }
};

template <>
struct gpu_codes<q4_0_format> {
  static constexpr bool has_offset = true;
  STRIX_HOST_DEVICE static unit_codes decode(const block_q4_0* row, row_index unit) {
    const block_q4_0& b = row[unit];
    unit_codes u = nibble_unit<2>(b.qs);
    const float d = half_to_float(b.d);
    set_scale(u, d, 8.0f * d);  // d · (code − 8)
    return u;
  }
};

template <>
struct gpu_codes<mxfp4_format> {
  static constexpr bool has_offset = false;
  STRIX_HOST_DEVICE static unit_codes decode(const block_mxfp4* row, row_index unit) {
    const block_mxfp4& b = row[unit];
    unit_codes u = nibble_unit<1>(b.qs);
    // E2M1 values doubled (0, 1, 2, 3, 4, 6, 8, 12 and their negatives) against half the scale.
    lookup_all<0x0C08060403020100ull, 0xF4F8FAFCFDFEFF00ull>(u.words);
    set_scale(u, mxfp4_half_scale(b.e), 0.0f);
    return u;
  }
};

template <>
struct gpu_codes<iq4_xs_format> {
  static constexpr bool has_offset = false;
  STRIX_HOST_DEVICE static unit_codes decode(const block_iq4_xs* row, row_index unit) {
    const block_iq4_xs& b = row[unit / 8];
    const int sub = static_cast<int>(unit % 8);
    unit_codes u = nibble_unit<4>(b.qs + 16 * sub);
    // kvalues_iq4nl: -127 -104 -83 -65 -49 -35 -22 -10 | 1 13 25 38 53 69 89 113.
    lookup_all<0xF6EADDCFBFAD9881ull, 0x7159453526190D01ull>(u.words);
    set_scale(u, iq4_xs_scale(b, sub), 0.0f);
    return u;
  }
};

// Q4_K and Q5_K (see k4_decoder): codes 0-15 (0-31), weight = d·scale·code − dmin·min.
template <int Bits>
struct k4_codes {
  static constexpr bool has_offset = true;
  template <class Block>
  STRIX_HOST_DEVICE static unit_codes decode(const Block* row, row_index unit) {
    const Block& b = row[unit / 8];
    const int j = static_cast<int>(unit % 8);
    unit_codes u;
    load_words<8, 4>(b.qs + 32 * (j / 2), u.words);
    const int shift = 4 * (j % 2);
    std::uint32_t high[8] = {};
    if constexpr (Bits == 5) load_words<8, 4>(b.qh, high);
    STRIX_UNROLL
    for (int i = 0; i < 8; ++i) {
      u.words[i] = (u.words[i] >> shift) & low_nibbles;
      if constexpr (Bits == 5) u.words[i] |= ((high[i] >> j) & 0x01010101u) << 4;
    }
    const k4_scale_min sm(b, j);
    set_scale(u, sm.scale, sm.min);
    return u;
  }
};
template <>
struct gpu_codes<q4_k_format> : k4_codes<4> {};
template <>
struct gpu_codes<q5_k_format> : k4_codes<5> {};

// Q6_K (see gpu_format<q6_k_format>): codes 0-63, weight = d·scale·(code − 32), a scale per 16.
template <>
struct gpu_codes<q6_k_format> {
  static constexpr bool has_offset = true;
  STRIX_HOST_DEVICE static unit_codes decode(const block_q6_k* row, row_index unit) {
    const block_q6_k& b = row[unit / 8];
    const int half = static_cast<int>(unit % 8) / 4;
    const int quarter = static_cast<int>(unit % 4);
    unit_codes u;
    std::uint32_t high[8];
    load_words<8, 2>(b.ql + 64 * half + 32 * (quarter % 2), u.words);
    load_words<8, 2>(b.qh + 32 * half, high);
    const int low_shift = 4 * (quarter / 2);
    const int high_shift = 2 * quarter;
    STRIX_UNROLL
    for (int i = 0; i < 8; ++i) u.words[i] = ((u.words[i] >> low_shift) & low_nibbles) | (((high[i] >> high_shift) & 0x03030303u) << 4);
    const float d = half_to_float(b.d);
    STRIX_UNROLL
    for (int h = 0; h < 2; ++h) {
      u.scale[h] = d * static_cast<float>(b.scales[8 * half + 2 * quarter + h]);
      u.offset[h] = 32.0f * u.scale[h];
    }
    return u;
  }
};

}  // namespace strix::hip_kernels
