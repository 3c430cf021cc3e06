// Device-side decoding of GGUF weight formats, straight from the block bytes into registers: the
// GPU counterpart of each format's scalar dequantize (quant/*.hpp), which the tests hold these to.
// The grain is a slice of 8 consecutive weights of a row, so that the 32 lanes of a warp decode 256
// consecutive weights together and their loads of weights and activations are contiguous. Four
// slices make a unit of 32 weights: one block of Q8_0 / Q4_0 / MXFP4, one sub-block of a
// 256-weight K-quant or IQ4_XS super-block, or 32 elements of F32 / F16 / BF16 (whose rows may end
// in a tail shorter than a unit, read element by element).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <strix/device/hip/host_device.hpp>
#include <strix/quant/formats.hpp>

namespace strix::hip_kernels {

inline constexpr int unit_size = 32;
inline constexpr int slice_size = 8;
inline constexpr int slices_per_unit = unit_size / slice_size;

// A position within one weight row (a slice, a unit, a byte): 32 bits, as the policy refuses rows
// of 2^31 weights or more; 64-bit counters and offsets cost two instructions per operation, and the
// matmul's inner loop is instruction-bound.
using row_index = std::uint32_t;

// The 8 bytes at p through loads of Align bytes (p must be Align-aligned): wide loads put more
// bytes in flight per instruction than byte loads, and blocks guarantee different alignments.
template <int Align>
struct byte_slice {
  std::uint8_t b[slice_size];
  STRIX_HOST_DEVICE explicit byte_slice(const void* p) {
    if constexpr (Align == 4) {
      const auto* words = static_cast<const std::uint32_t*>(p);
      STRIX_UNROLL
      for (int w = 0; w < 2; ++w) {
        const std::uint32_t v = words[w];
        STRIX_UNROLL
        for (int k = 0; k < 4; ++k) b[4 * w + k] = static_cast<std::uint8_t>(v >> (8 * k));
      }
    } else if constexpr (Align == 2) {
      const auto* halves = static_cast<const std::uint16_t*>(p);
      STRIX_UNROLL
      for (int h = 0; h < 4; ++h) {
        const std::uint16_t v = halves[h];
        b[2 * h] = static_cast<std::uint8_t>(v);
        b[2 * h + 1] = static_cast<std::uint8_t>(v >> 8);
      }
    } else {
      STRIX_UNROLL
      for (int k = 0; k < slice_size; ++k) b[k] = static_cast<const std::uint8_t*>(p)[k];
    }
  }
  STRIX_HOST_DEVICE std::uint8_t operator[](int k) const { return b[k]; }
};

STRIX_HOST_DEVICE inline float half_to_float(f16 h) { return gpu::half_bits_to_float(h.bits); }

STRIX_HOST_DEVICE inline float bf16_to_float(bf16 b) { return gpu::float_from_bits(static_cast<std::uint32_t>(b.bits) << 16); }

// gpu_format<Format>: units_per_block (0 for one-element formats), row_alignment (what decode
// assumes of the weights' address beyond the block's own alignment; the policy checks it) and
// decode(row, slice, w), which writes the 8 weights of slice `slice` of the row (weights
// 8·slice ... 8·slice + 7).
template <class Format>
struct gpu_format;

template <class Format>
concept has_gpu_decoder = requires { gpu_format<Format>::units_per_block; };

template <class Format>
struct element_format {
  static constexpr int units_per_block = 0;
  static constexpr std::size_t row_alignment = alignof(typename Format::block_type);
  STRIX_HOST_DEVICE static float element(const typename Format::block_type* row, std::size_t i) {
    if constexpr (std::is_same_v<Format, f32_format>) return row[i];
    else if constexpr (std::is_same_v<Format, f16_format>) return half_to_float(row[i]);
    else return bf16_to_float(row[i]);
  }
  STRIX_HOST_DEVICE static void decode(const typename Format::block_type* row, row_index slice, float* w) {
    const auto* first = row + slice * slice_size;
    STRIX_UNROLL
    for (int k = 0; k < slice_size; ++k) w[k] = element(first, static_cast<std::size_t>(k));
  }
};
template <>
struct gpu_format<f32_format> : element_format<f32_format> {};
template <>
struct gpu_format<f16_format> : element_format<f16_format> {};
template <>
struct gpu_format<bf16_format> : element_format<bf16_format> {};

template <>
struct gpu_format<q8_0_format> {
  static constexpr int units_per_block = 1;
  static constexpr std::size_t row_alignment = 2;
  STRIX_HOST_DEVICE static void decode(const block_q8_0* row, row_index slice, float* w) {
    const block_q8_0& b = row[slice / slices_per_unit];
    const float d = half_to_float(b.d);
    const byte_slice<2> q(b.qs + slice_size * (slice % slices_per_unit));
    STRIX_UNROLL
    for (int k = 0; k < slice_size; ++k) w[k] = d * static_cast<float>(static_cast<std::int8_t>(q[k]));
  }
};

// The 4-bit layouts of Q4_0, MXFP4 and IQ4_XS: weights 0-15 of a 32-weight unit are the low
// nibbles of its 16 bytes, weights 16-31 the high nibbles. Slice `part` of the unit: its 8 bytes
// and the nibble to take.
template <int Align>
struct nibble_slice {
  byte_slice<Align> bytes;
  int shift;
  STRIX_HOST_DEVICE nibble_slice(const std::uint8_t* unit_bytes, int part) : bytes(unit_bytes + slice_size * (part % 2)), shift(4 * (part / 2)) {}
  STRIX_HOST_DEVICE std::uint32_t operator[](int k) const { return (bytes[k] >> shift) & 0x0fu; }
};

template <>
struct gpu_format<q4_0_format> {
  static constexpr int units_per_block = 1;
  static constexpr std::size_t row_alignment = 2;
  STRIX_HOST_DEVICE static void decode(const block_q4_0* row, row_index slice, float* w) {
    const block_q4_0& b = row[slice / slices_per_unit];
    const float d = half_to_float(b.d);
    const nibble_slice<2> q(b.qs, static_cast<int>(slice % slices_per_unit));
    STRIX_UNROLL
    for (int k = 0; k < slice_size; ++k) w[k] = d * static_cast<float>(static_cast<int>(q[k]) - 8);
  }
};

// Shared by the two 16-entry non-linear tables (MXFP4's E2M1 values doubled, IQ4's kvalues).
STRIX_HOST_DEVICE inline float table_value(std::uint32_t nibble, bool iq4) {
  const std::int8_t mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
  const std::int8_t iq4_table[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  return static_cast<float>(iq4 ? iq4_table[nibble] : mxfp4[nibble]);
}

// Half of MXFP4's E8M0 scale, as mxfp4_half_scale: 2^(e-128), subnormal below e = 2.
STRIX_HOST_DEVICE inline float mxfp4_half_scale(std::uint8_t e) {
  return gpu::float_from_bits(e < 2 ? (0x00200000u << e) : (static_cast<std::uint32_t>(e - 1) << 23));
}

template <>
struct gpu_format<mxfp4_format> {
  static constexpr int units_per_block = 1;
  static constexpr std::size_t row_alignment = 1;
  STRIX_HOST_DEVICE static void decode(const block_mxfp4* row, row_index slice, float* w) {
    const block_mxfp4& b = row[slice / slices_per_unit];
    const float d = mxfp4_half_scale(b.e);
    const nibble_slice<1> q(b.qs, static_cast<int>(slice % slices_per_unit));
    STRIX_UNROLL
    for (int k = 0; k < slice_size; ++k) w[k] = table_value(q[k], false) * d;
  }
};

// The scale of IQ4_XS sub-block `sub` (6 bits: 4 in scales_l, 2 in scales_h, offset 32) times d.
STRIX_HOST_DEVICE inline float iq4_xs_scale(const block_iq4_xs& b, int sub) {
  const int ls = ((b.scales_l[sub / 2] >> (4 * (sub % 2))) & 0x0f) | (((b.scales_h >> (2 * sub)) & 3) << 4);
  return half_to_float(b.d) * static_cast<float>(ls - 32);
}

template <>
struct gpu_format<iq4_xs_format> {
  static constexpr int units_per_block = 8;
  static constexpr std::size_t row_alignment = 4;  // 136-byte blocks, qs at 8: slices 4-aligned
  STRIX_HOST_DEVICE static void decode(const block_iq4_xs* row, row_index slice, float* w) {
    const row_index unit = slice / slices_per_unit;
    const block_iq4_xs& b = row[unit / 8];
    const int sub = static_cast<int>(unit % 8);
    const float dl = iq4_xs_scale(b, sub);
    const nibble_slice<4> q(b.qs + 16 * sub, static_cast<int>(slice % slices_per_unit));
    STRIX_UNROLL
    for (int k = 0; k < slice_size; ++k) w[k] = dl * table_value(q[k], true);
  }
};

// Sub-block j's 6-bit scale and min from the 12-byte packing of Q4_K / Q5_K, times d and dmin.
struct k4_scale_min {
  float scale, min;
  template <class Block>
  STRIX_HOST_DEVICE k4_scale_min(const Block& b, int j) {
    // Sub-blocks 0-3: the low 6 bits of bytes j and j + 4; 4-7: a nibble of byte j + 4 and the top
    // two bits of bytes j − 4 and j. Three byte loads and selects, no branch: the lanes of a warp
    // decode different sub-blocks.
    const std::uint8_t* s = b.scales;
    const int first = s[j % 4];
    const int second = s[j % 4 + 4];
    const int third = s[j % 4 + 8];
    const bool upper = j >= 4;
    const int sc = upper ? (third & 0x0f) | ((first >> 2) & 0x30) : first & 63;
    const int m = upper ? (third >> 4) | ((second >> 2) & 0x30) : second & 63;
    scale = half_to_float(b.d) * static_cast<float>(sc);
    min = half_to_float(b.dmin) * static_cast<float>(m);
  }
};

// Q4_K and Q5_K: sub-block j has a 6-bit scale and min from the 12-byte packing; codes are the low
// (even j) or high (odd j) nibbles of qs[32·(j/2) + l], Q5_K's fifth bit is bit j of qh[l].
template <int Bits>
struct k4_decoder {
  static constexpr int units_per_block = 8;
  static constexpr std::size_t row_alignment = 4;  // 144/176-byte blocks, qs at 16/48: slices 4-aligned
  template <class Block>
  STRIX_HOST_DEVICE static void decode(const Block* row, row_index slice, float* w) {
    const row_index unit = slice / slices_per_unit;
    const Block& b = row[unit / 8];
    const int j = static_cast<int>(unit % 8);
    const k4_scale_min sm(b, j);
    const float dl = sm.scale;
    const float ml = sm.min;
    const int first = slice_size * static_cast<int>(slice % slices_per_unit);
    const byte_slice<4> q(b.qs + 32 * (j / 2) + first);
    const int shift = 4 * (j % 2);
    int fifth_bit[slice_size] = {};
    if constexpr (Bits == 5) {
      const byte_slice<4> high(b.qh + first);
      STRIX_UNROLL
      for (int k = 0; k < slice_size; ++k) fifth_bit[k] = ((high[k] >> j) & 1) << 4;
    }
    STRIX_UNROLL
    for (int k = 0; k < slice_size; ++k) {
      const int code = ((q[k] >> shift) & 0x0f) + fifth_bit[k];
      w[k] = dl * static_cast<float>(code) - ml;
    }
  }
};
template <>
struct gpu_format<q4_k_format> : k4_decoder<4> {};
template <>
struct gpu_format<q5_k_format> : k4_decoder<5> {};

// Q6_K: unit u is quarter u % 4 of half u / 4; each 16 weights have their own signed scale.
template <>
struct gpu_format<q6_k_format> {
  static constexpr int units_per_block = 8;
  static constexpr std::size_t row_alignment = 2;  // 210-byte blocks: every other one is only 2-aligned
  STRIX_HOST_DEVICE static void decode(const block_q6_k* row, row_index slice, float* w) {
    const row_index unit = slice / slices_per_unit;
    const block_q6_k& b = row[unit / 8];
    const int half = static_cast<int>(unit % 8) / 4;
    const int quarter = static_cast<int>(unit % 4);
    const int first = slice_size * static_cast<int>(slice % slices_per_unit);
    const byte_slice<2> ql(b.ql + 64 * half + 32 * (quarter % 2) + first);
    const byte_slice<2> qh(b.qh + 32 * half + first);
    const float d = half_to_float(b.d) * static_cast<float>(b.scales[8 * half + 2 * quarter + first / 16]);
    const int low_shift = 4 * (quarter / 2);
    const int high_shift = 2 * quarter;
    STRIX_UNROLL
    for (int k = 0; k < slice_size; ++k) {
      const int code = (((ql[k] >> low_shift) & 0x0f) | (((qh[k] >> high_shift) & 3) << 4)) - 32;
      w[k] = d * static_cast<float>(code);
    }
  }
};

}  // namespace strix::hip_kernels
