// Activation formats the zen5 matmul quantizes its input into, once per call and token, so that
// weight blocks can be multiplied with integer dot products (vpdpbusd): int8 blocks of 32 with an
// f32 scale and the sum of the codes (for the offset terms of Q4_0 and MXFP4), Q8_K with float
// sums for the 256-element K-quant and IQ4_XS super-blocks, and bf16 rows for BF16 weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <strix/core/bf16.hpp>
#include <strix/device/zen5/intrinsics.hpp>
#include <strix/quant/q8_formats.hpp>

namespace strix::zen5_kernels {

// A row of int8 activations in blocks of 32, stored as three arrays so that consecutive blocks'
// codes, scales and sums each load as one vector: codes (32 per block), f32 scales, and the sum
// of each block's codes (for the offset terms of Q4_0).
struct act_q8_32_row {
  const std::int8_t* qs;
  const float* d;
  const std::int32_t* sum;

  static std::size_t bytes(std::size_t row_length) noexcept { return row_length / 32 * (32 + 4 + 4); }
  static act_q8_32_row at(const std::byte* p, std::size_t row_length) noexcept {
    const std::size_t blocks = row_length / 32;
    return {reinterpret_cast<const std::int8_t*>(p), reinterpret_cast<const float*>(p + 32 * blocks),
            reinterpret_cast<const std::int32_t*>(p + 36 * blocks)};
  }
};

namespace simd {
// roundf on 16 lanes (half away from zero, as detail::quantize_int8_absmax rounds): the fraction
// left by truncation is exact, so comparing it with 0.5 decides exactly.
inline __m512 round_half_away(__m512 v) noexcept {
  const __m512 truncated = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, truncated)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 signed_one = _mm512_or_ps(_mm512_and_ps(v, _mm512_set1_ps(-0.0f)), _mm512_set1_ps(1.0f));
  return _mm512_mask_add_ps(truncated, up, truncated, signed_one);
}

// detail::quantize_int8_absmax on Lanes x 16 values, bit for bit (the same operations on the same
// floats; the maximum does not depend on order): writes the codes, returns the scale and leaves
// each 16 codes' sum in sums[]. NaN inputs are skipped by the maximum, as std::fmax skips them.
template <std::size_t Lanes>
inline float quantize_int8_absmax(const float* x, std::int8_t* qs, std::int32_t* sums) noexcept {
  __m512 v[Lanes];
  __m512 amax = _mm512_setzero_ps();
  for (std::size_t i = 0; i < Lanes; ++i) {
    v[i] = _mm512_loadu_ps(x + 16 * i);
    amax = _mm512_max_ps(_mm512_abs_ps(v[i]), amax);  // second operand wins over NaN
  }
  const float d = _mm512_reduce_max_ps(amax) / 127.0f;
  const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  for (std::size_t i = 0; i < Lanes; ++i) {
    const __m512i codes = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(v[i], id)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16 * i), _mm512_cvtsepi32_epi8(codes));
    sums[i] = _mm512_reduce_add_epi32(codes);
  }
  return d;
}
}  // namespace simd

// Quantizes x (a multiple of 32 long) into the act_q8_32_row layout at dst (4-byte aligned).
inline void quantize_act_q8_32(std::span<const float> x, std::byte* dst) noexcept {
  const std::size_t blocks = x.size() / 32;
  auto* qs = reinterpret_cast<std::int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + 32 * blocks);
  auto* sums = reinterpret_cast<std::int32_t*>(dst + 36 * blocks);
  for (std::size_t b = 0; b < blocks; ++b) {
    std::int32_t half_sums[2];
    d[b] = simd::quantize_int8_absmax<2>(x.data() + 32 * b, qs + 32 * b, half_sums);
    sums[b] = half_sums[0] + half_sums[1];
  }
}

// A Q8_K block (the codes and scale of q8_k_format) as the zen5 K-quant kernels read it: in place
// of Q8_K's integer sums of each 16 codes, those sums times d as floats, per group of 16 and per
// sub-block of 32, so that the offset term of a weight block and token (Σ over groups of weight
// offset · Σx) is one multiply-add where it took a widening, a conversion and two multiplies.
struct act_q8_k_block {
  float d;
  std::int8_t qs[256];
  float group_sums[16];     // d · Σ qs[16g … 16g + 15]
  float sub_block_sums[8];  // d · Σ qs[32j … 32j + 31]
};

// q8_k_format::quantize per block, vectorised, with the scaled sums.
inline void quantize_act_q8_k(std::span<const float> x, act_q8_k_block* out) noexcept {
  for (std::size_t b = 0; b < x.size() / 256; ++b) {
    std::int32_t sums[16];
    const float d = simd::quantize_int8_absmax<16>(x.data() + 256 * b, out[b].qs, sums);
    out[b].d = d;
    for (int g = 0; g < 16; ++g) out[b].group_sums[g] = d * static_cast<float>(sums[g]);
    for (int j = 0; j < 8; ++j) out[b].sub_block_sums[j] = d * static_cast<float>(sums[2 * j] + sums[2 * j + 1]);
  }
}

inline void convert_act_bf16(std::span<const float> x, bf16* out) noexcept {
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = bf16::from_float(x[i]);
}

}  // namespace strix::zen5_kernels
