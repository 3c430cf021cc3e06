// Integer decoding of GGUF weight formats for the int8 dot-product path of the GPU matmul: a slice
// of 8 weights (the slices and units of unit_decoders.hpp) as 8 signed 8-bit codes packed four to
// a 32-bit word, with a scale and an offset such that weight_k = scale · code_k − offset. Against
// int8 activations (quantize_q8_kernel) one dot4_i8 multiplies four weights, where the float path
// spends a decode, a conversion and an FMA on each: the float path is instruction-bound at 4-5
// bits per weight. Codes come out of the block bytes with masks and shifts on whole words; only
// the non-linear 4-bit tables (IQ4_XS, MXFP4) need a lookup per code. The tests hold these to the
// float decoders.
#pragma once

#include <cstddef>
#include <cstdint>

#include <strix/device/hip/portability.hpp>
#include <strix/device/hip/unit_decoders.hpp>
#include <strix/quant/formats.hpp>

namespace strix::hip_kernels {

struct slice_codes {
  int words[2];  // weight k of the slice is byte k % 4 of word k / 4
  float scale;
  float offset;
};

// The 8 bytes at p as two little-endian words, through loads of Align bytes.
template <int Align>
__device__ inline void load_words(const std::uint8_t* p, std::uint32_t (&w)[2]) {
  const byte_slice<Align> bytes(p);
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    w[i] = static_cast<std::uint32_t>(bytes[4 * i]) | static_cast<std::uint32_t>(bytes[4 * i + 1]) << 8 |
           static_cast<std::uint32_t>(bytes[4 * i + 2]) << 16 | static_cast<std::uint32_t>(bytes[4 * i + 3]) << 24;
  }
}

inline constexpr std::uint32_t low_nibbles = 0x0f0f0f0fu;

// A 16-entry table of signed bytes packed as two 64-bit words (entries 0-7, 8-15): the bytes of
// `nibbles` (each < 16) replaced by their entries, with shifts rather than an indexed array (which
// would live in slow per-thread memory).
__device__ inline std::uint32_t table_lookup(std::uint32_t nibbles, std::uint64_t low, std::uint64_t high) {
  std::uint32_t out = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const std::uint32_t index = (nibbles >> (8 * k)) & 0x0fu;
    const std::uint64_t half = index < 8 ? low : high;
    out |= static_cast<std::uint32_t>((half >> (8 * (index & 7))) & 0xffu) << (8 * k);
  }
  return out;
}

// gpu_codes<Format>: decode(row, slice) → slice_codes; has_offset says whether offset can be
// non-zero (the matmul then also needs the activation codes' sum).
template <class Format>
struct gpu_codes;

template <class Format>
concept has_gpu_codes = requires { gpu_codes<Format>::has_offset; };

template <>
struct gpu_codes<q8_0_format> {
  static constexpr bool has_offset = false;
  __device__ static slice_codes decode(const block_q8_0* row, std::size_t slice) {
    const block_q8_0& b = row[slice / slices_per_unit];
    std::uint32_t w[2];
    load_words<2>(reinterpret_cast<const std::uint8_t*>(b.qs) + slice_size * (slice % slices_per_unit), w);
    return {{static_cast<int>(w[0]), static_cast<int>(w[1])}, half_to_float(b.d), 0.0f};
  }
};

// The nibbles of slice `part` of a 16-byte 4-bit unit (the layout nibble_slice describes), each in
// the low half of its byte.
template <int Align>
__device__ inline void unit_nibbles(const std::uint8_t* unit_bytes, int part, std::uint32_t (&w)[2]) {
  load_words<Align>(unit_bytes + slice_size * (part % 2), w);
  const int shift = 4 * (part / 2);
  w[0] = (w[0] >> shift) & low_nibbles;
  w[1] = (w[1] >> shift) & low_nibbles;
}

template <>
struct gpu_codes<q4_0_format> {
  static constexpr bool has_offset = true;
  __device__ static slice_codes decode(const block_q4_0* row, std::size_t slice) {
    const block_q4_0& b = row[slice / slices_per_unit];
    std::uint32_t w[2];
    unit_nibbles<2>(b.qs, static_cast<int>(slice % slices_per_unit), w);
    const float d = half_to_float(b.d);
    return {{static_cast<int>(w[0]), static_cast<int>(w[1])}, d, 8.0f * d};  // d · (code − 8)
  }
};

template <>
struct gpu_codes<mxfp4_format> {
  static constexpr bool has_offset = false;
  __device__ static slice_codes decode(const block_mxfp4* row, std::size_t slice) {
    const block_mxfp4& b = row[slice / slices_per_unit];
    std::uint32_t w[2];
    unit_nibbles<1>(b.qs, static_cast<int>(slice % slices_per_unit), w);
    // E2M1 values doubled (0, 1, 2, 3, 4, 6, 8, 12 and their negatives) against half the scale.
    constexpr std::uint64_t low = 0x0C08060403020100ull, high = 0xF4F8FAFCFDFEFF00ull;
    return {{static_cast<int>(table_lookup(w[0], low, high)), static_cast<int>(table_lookup(w[1], low, high))}, mxfp4_half_scale(b.e), 0.0f};
  }
};

template <>
struct gpu_codes<iq4_xs_format> {
  static constexpr bool has_offset = false;
  __device__ static slice_codes decode(const block_iq4_xs* row, std::size_t slice) {
    const std::size_t unit = slice / slices_per_unit;
    const block_iq4_xs& b = row[unit / 8];
    const int sub = static_cast<int>(unit % 8);
    std::uint32_t w[2];
    unit_nibbles<4>(b.qs + 16 * sub, static_cast<int>(slice % slices_per_unit), w);
    // kvalues_iq4nl: -127 -104 -83 -65 -49 -35 -22 -10 | 1 13 25 38 53 69 89 113.
    constexpr std::uint64_t low = 0xF6EADDCFBFAD9881ull, high = 0x7159453526190D01ull;
    return {{static_cast<int>(table_lookup(w[0], low, high)), static_cast<int>(table_lookup(w[1], low, high))},
            iq4_xs_scale(b, sub), 0.0f};
  }
};

// Q4_K and Q5_K (see k4_decoder): codes 0-15 (0-31), weight = d·scale·code − dmin·min.
template <int Bits>
struct k4_codes {
  static constexpr bool has_offset = true;
  template <class Block>
  __device__ static slice_codes decode(const Block* row, std::size_t slice) {
    const std::size_t unit = slice / slices_per_unit;
    const Block& b = row[unit / 8];
    const int j = static_cast<int>(unit % 8);
    const int first = slice_size * static_cast<int>(slice % slices_per_unit);
    std::uint32_t w[2];
    load_words<4>(b.qs + 32 * (j / 2) + first, w);
    const int shift = 4 * (j % 2);
    w[0] = (w[0] >> shift) & low_nibbles;
    w[1] = (w[1] >> shift) & low_nibbles;
    if constexpr (Bits == 5) {
      std::uint32_t high[2];
      load_words<4>(b.qh + first, high);
      w[0] |= ((high[0] >> j) & 0x01010101u) << 4;
      w[1] |= ((high[1] >> j) & 0x01010101u) << 4;
    }
    const k4_scale_min sm(b, j);
    return {{static_cast<int>(w[0]), static_cast<int>(w[1])}, sm.scale, sm.min};
  }
};
template <>
struct gpu_codes<q4_k_format> : k4_codes<4> {};
template <>
struct gpu_codes<q5_k_format> : k4_codes<5> {};

// Q6_K (see gpu_format<q6_k_format>): codes 0-63, weight = d·scale·(code − 32).
template <>
struct gpu_codes<q6_k_format> {
  static constexpr bool has_offset = true;
  __device__ static slice_codes decode(const block_q6_k* row, std::size_t slice) {
    const std::size_t unit = slice / slices_per_unit;
    const block_q6_k& b = row[unit / 8];
    const int half = static_cast<int>(unit % 8) / 4;
    const int quarter = static_cast<int>(unit % 4);
    const int first = slice_size * static_cast<int>(slice % slices_per_unit);
    std::uint32_t low[2], high[2];
    load_words<2>(b.ql + 64 * half + 32 * (quarter % 2) + first, low);
    load_words<2>(b.qh + 32 * half + first, high);
    const int low_shift = 4 * (quarter / 2);
    const int high_shift = 2 * quarter;
    int words[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      words[i] = static_cast<int>(((low[i] >> low_shift) & low_nibbles) | (((high[i] >> high_shift) & 0x03030303u) << 4));
    }
    const float d = half_to_float(b.d) * static_cast<float>(b.scales[8 * half + 2 * quarter + first / 16]);
    return {{words[0], words[1]}, d, 32.0f * d};
  }
};

}  // namespace strix::hip_kernels
