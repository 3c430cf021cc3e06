// AVX-512 dot products of one weight row with N activation rows (N = 1 for decode, up to 4 for
// prefill tiles, so each weight vector is unpacked once and used N times). One specialisation per
// weight format: integer formats multiply bytes with vpdpbusd (VNNI) against int8 activations,
// BF16 uses vdpbf16ps, F16/F32 use FMA. A format without a specialisation has no fast path; the
// zen5 policy then uses the reference kernel for it (see zen5.hpp).
#pragma once

// GCC 12 reports its own _mm512_undefined_* helpers as uninitialised once inlined (GCC bug
// 105593, fixed in 12.3); the location is inside the intrinsics header, so silence it there only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include <strix/core/bf16.hpp>
#include <strix/device/zen5/activation_blocks.hpp>
#include <strix/device/zen5/cpu_features.hpp>
#include <strix/quant/float_formats.hpp>
#include <strix/quant/iq4_formats.hpp>
#include <strix/quant/k_quants.hpp>
#include <strix/quant/legacy_formats.hpp>
#include <strix/quant/mxfp4.hpp>
#include <strix/quant/q8_formats.hpp>

namespace strix::zen5_kernels {

template <class Format>
struct dot_kernel;  // no fast path

template <class Format>
concept has_dot_kernel = requires { typename dot_kernel<Format>::activation_type; };

namespace simd {

inline __m512i two_lanes(__m256i low, __m256i high) noexcept {
  return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

// 16 bytes of nibbles of blocks A and B (32 bytes) as 64 codes: A's low nibbles, A's high
// nibbles, B's low, B's high (the ggml order of two 32-element blocks).
inline __m512i nibbles_of_two_blocks(__m256i packed) noexcept {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  const __m256i low = _mm256_and_si256(packed, mask);
  const __m256i high = _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask);
  // [low.A, low.B, high.A, high.B] -> [low.A, high.A, low.B, high.B]
  return _mm512_shuffle_i64x2(two_lanes(low, high), two_lanes(low, high), _MM_SHUFFLE(3, 1, 2, 0));
}

// Σ w·x per 4-byte group for signed w and signed x: vpdpbusd needs one unsigned operand, so take
// |w| and move w's sign onto x.
inline __m512i dot_signed(__m512i w, __m512i x) noexcept {
  const __m512i x_signed = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), x_signed);
}

inline __m512i dot_unsigned(__m512i w_unsigned, __m512i x) noexcept {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w_unsigned, x);
}

// Lanes 0-7 get a, lanes 8-15 get b.
inline __m512 halves(float a, float b) noexcept { return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b)); }
inline __m512i halves(int a, int b) noexcept {
  return _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(a), _mm512_set1_epi32(b));
}

inline __m512i load64(const void* p) noexcept { return _mm512_loadu_si512(p); }
inline __m256i load32(const void* p) noexcept { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Two 32-element activation blocks as one register.
inline __m512i two_act_blocks(const act_q8_32& a, const act_q8_32& b) noexcept { return two_lanes(load32(a.qs), load32(b.qs)); }

}  // namespace simd

// Formats of 32-element blocks against act_q8_32, two blocks per register; an odd last block is
// handled alone with the upper half zeroed. Each specialisation provides codes(w_a, w_b) (the 64
// weight bytes), whether they are signed, its per-block weight scale, and an offset subtracted
// from every code (Q4_0's 8).
template <class Derived, class Block>
struct dot_kernel_32 {
  using activation_type = act_q8_32;

  template <std::size_t N>
  static void row(const Block* w, const act_q8_32* const* acts, std::size_t n_blocks, float* out) noexcept {
    __m512 acc[N];
    float offset_sum[N] = {};
    for (std::size_t t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    std::size_t b = 0;
    for (; b + 1 < n_blocks; b += 2) {
      const __m512i codes = Derived::codes(w[b], w[b + 1]);
      const float da = Derived::scale(w[b]);
      const float db = Derived::scale(w[b + 1]);
      for (std::size_t t = 0; t < N; ++t) {
        const act_q8_32& xa = acts[t][b];
        const act_q8_32& xb = acts[t][b + 1];
        const __m512i x = simd::two_act_blocks(xa, xb);
        const __m512i dot = Derived::is_signed ? simd::dot_signed(codes, x) : simd::dot_unsigned(codes, x);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), simd::halves(da * xa.d, db * xb.d), acc[t]);
        if constexpr (Derived::code_offset != 0) {
          offset_sum[t] += da * xa.d * static_cast<float>(xa.sum) + db * xb.d * static_cast<float>(xb.sum);
        }
      }
    }
    if (b < n_blocks) {
      const __m512i codes = _mm512_maskz_mov_epi64(0x0f, Derived::codes(w[b], w[b]));
      const float da = Derived::scale(w[b]);
      for (std::size_t t = 0; t < N; ++t) {
        const act_q8_32& xa = acts[t][b];
        const __m512i x = _mm512_zextsi256_si512(simd::load32(xa.qs));
        const __m512i dot = Derived::is_signed ? simd::dot_signed(codes, x) : simd::dot_unsigned(codes, x);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(da * xa.d), acc[t]);
        if constexpr (Derived::code_offset != 0) offset_sum[t] += da * xa.d * static_cast<float>(xa.sum);
      }
    }
    for (std::size_t t = 0; t < N; ++t) out[t] = _mm512_reduce_add_ps(acc[t]) - Derived::code_offset * offset_sum[t];
  }
};

template <>
struct dot_kernel<q8_0_format> : dot_kernel_32<dot_kernel<q8_0_format>, block_q8_0> {
  static constexpr bool is_signed = true;
  static constexpr float code_offset = 0.0f;
  static __m512i codes(const block_q8_0& a, const block_q8_0& b) noexcept { return simd::two_lanes(simd::load32(a.qs), simd::load32(b.qs)); }
  static float scale(const block_q8_0& w) noexcept { return w.d.to_float(); }
};

template <>
struct dot_kernel<q4_0_format> : dot_kernel_32<dot_kernel<q4_0_format>, block_q4_0> {
  static constexpr bool is_signed = false;
  static constexpr float code_offset = 8.0f;  // value = (nibble - 8) · d
  static __m512i codes(const block_q4_0& a, const block_q4_0& b) noexcept {
    return simd::nibbles_of_two_blocks(_mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)),
                                                        _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.qs))));
  }
  static float scale(const block_q4_0& w) noexcept { return w.d.to_float(); }
};

template <>
struct dot_kernel<mxfp4_format> : dot_kernel_32<dot_kernel<mxfp4_format>, block_mxfp4> {
  static constexpr bool is_signed = true;
  static constexpr float code_offset = 0.0f;
  static __m512i codes(const block_mxfp4& a, const block_mxfp4& b) noexcept {
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(mxfp4_code_table.data())));
    const __m512i nibbles = simd::nibbles_of_two_blocks(_mm256_set_m128i(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)), _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.qs))));
    return _mm512_shuffle_epi8(table, nibbles);
  }
  static float scale(const block_mxfp4& w) noexcept { return mxfp4_half_scale(w.e); }
};

// Super-block formats against Q8_K. Each specialisation provides, per super-block, the 64 codes of
// sub-block pair p (4 pairs of 2 x 32, or for Q6_K 4 quarters of 2 x 16 groups), the integer
// scale per 16-lane half, and the correction Σ_groups (offset term) computed from bsums.
template <class Derived, class Block>
struct dot_kernel_256 {
  using activation_type = block_q8_k;

  template <std::size_t N>
  static void row(const Block* w, const block_q8_k* const* acts, std::size_t n_blocks, float* out) noexcept {
    __m512 acc[N];
    float correction[N] = {};
    for (std::size_t t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    for (std::size_t b = 0; b < n_blocks; ++b) {
      const typename Derived::unpacked u(w[b]);
      __m512i sums[N];
      for (std::size_t t = 0; t < N; ++t) sums[t] = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {
        const __m512i codes = u.codes(w[b], p);
        const __m512i scales = u.lane_scales(p);
        for (std::size_t t = 0; t < N; ++t) {
          const __m512i x = simd::load64(acts[t][b].qs + 64 * p);
          const __m512i dot = Derived::is_signed ? simd::dot_signed(codes, x) : simd::dot_unsigned(codes, x);
          sums[t] = _mm512_add_epi32(sums[t], _mm512_mullo_epi32(dot, scales));
        }
      }
      for (std::size_t t = 0; t < N; ++t) {
        const float dx = acts[t][b].d;
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[t]), _mm512_set1_ps(u.d * dx), acc[t]);
        correction[t] += dx * u.correction(acts[t][b].bsums);
      }
    }
    for (std::size_t t = 0; t < N; ++t) out[t] = _mm512_reduce_add_ps(acc[t]) - correction[t];
  }
};

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins; value = d·sc·q − dmin·m.
template <class Block, int Bits>
struct q45_k_dot : dot_kernel_256<q45_k_dot<Block, Bits>, Block> {
  static constexpr bool is_signed = false;
  struct unpacked {
    int scale[8];
    int min[8];
    float d;
    float dmin;
    explicit unpacked(const Block& w) noexcept : d(w.d.to_float()), dmin(w.dmin.to_float()) {
      for (int j = 0; j < 8; ++j) detail::unpack_scale_min_k4(j, w.scales, scale[j], min[j]);
    }
    __m512i codes(const Block& w, int p) const noexcept {
      const __m256i packed = simd::load32(w.qs + 32 * p);
      const __m256i mask = _mm256_set1_epi8(0x0f);
      __m512i q = simd::two_lanes(_mm256_and_si256(packed, mask), _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask));
      if constexpr (Bits == 5) {
        const __m256i high = simd::load32(w.qh);
        const auto low_mask = static_cast<std::uint64_t>(_mm256_test_epi8_mask(high, _mm256_set1_epi8(static_cast<char>(1 << (2 * p)))));
        const auto high_mask = static_cast<std::uint64_t>(_mm256_test_epi8_mask(high, _mm256_set1_epi8(static_cast<char>(1 << (2 * p + 1)))));
        q = _mm512_or_si512(q, _mm512_maskz_mov_epi8(low_mask | (high_mask << 32), _mm512_set1_epi8(16)));
      }
      return q;
    }
    __m512i lane_scales(int p) const noexcept { return simd::halves(scale[2 * p], scale[2 * p + 1]); }
    float correction(const std::int16_t* bsums) const noexcept {
      int s = 0;
      for (int j = 0; j < 8; ++j) s += min[j] * (bsums[2 * j] + bsums[2 * j + 1]);
      return dmin * static_cast<float>(s);
    }
  };
};
template <>
struct dot_kernel<q4_k_format> : q45_k_dot<block_q4_k, 4> {};
template <>
struct dot_kernel<q5_k_format> : q45_k_dot<block_q5_k, 5> {};

// Q6_K: 16 groups of 16 with int8 scales; value = d·sc·(q − 32). "Pair" p is a quarter of the
// block in dequantization order: half p/2, quarters 2·(p%2) and 2·(p%2)+1.
template <>
struct dot_kernel<q6_k_format> : dot_kernel_256<dot_kernel<q6_k_format>, block_q6_k> {
  static constexpr bool is_signed = false;
  struct unpacked {
    float d;
    const std::int8_t* scales;
    explicit unpacked(const block_q6_k& w) noexcept : d(w.d.to_float()), scales(w.scales) {}
    __m512i codes(const block_q6_k& w, int p) const noexcept {
      const int half = p / 2;
      const __m512i low_bits = simd::load64(w.ql + 64 * half);
      const __m512i nibble_mask = _mm512_set1_epi8(0x0f);
      const __m512i low = (p % 2 == 0) ? _mm512_and_si512(low_bits, nibble_mask)
                                       : _mm512_and_si512(_mm512_srli_epi16(low_bits, 4), nibble_mask);
      const __m256i qh = simd::load32(w.qh + 32 * half);
      const int shift = 4 * (p % 2);  // quarters 0,1 use bits 0-3 of qh; quarters 2,3 bits 4-7
      const __m256i two_bits = _mm256_set1_epi8(3);
      const __m256i first = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), two_bits);
      const __m256i second = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift + 2)), two_bits);
      const __m512i high = _mm512_slli_epi16(simd::two_lanes(first, second), 4);
      return _mm512_or_si512(low, high);
    }
    __m512i lane_scales(int p) const noexcept {
      // groups 4p .. 4p+3 of 16 elements, each over four 4-byte lanes
      std::int32_t four;
      std::memcpy(&four, scales + 4 * p, 4);
      const __m128i spread = _mm_shuffle_epi8(_mm_cvtsi32_si128(four), _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
      return _mm512_cvtepi8_epi32(spread);
    }
    float correction(const std::int16_t* bsums) const noexcept {
      int s = 0;
      for (int g = 0; g < 16; ++g) s += scales[g] * bsums[g];
      return d * 32.0f * static_cast<float>(s);
    }
  };
};

// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (ls − 32); values from the non-linear table.
template <>
struct dot_kernel<iq4_xs_format> : dot_kernel_256<dot_kernel<iq4_xs_format>, block_iq4_xs> {
  static constexpr bool is_signed = true;
  struct unpacked {
    int scale[8];
    float d;
    explicit unpacked(const block_iq4_xs& w) noexcept : d(w.d.to_float()) {
      for (int ib = 0; ib < 8; ++ib) {
        scale[ib] = (((w.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((w.scales_h >> (2 * ib)) & 3) << 4)) - 32;
      }
    }
    __m512i codes(const block_iq4_xs& w, int p) const noexcept {
      const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(iq4_code_table.data())));
      return _mm512_shuffle_epi8(table, simd::nibbles_of_two_blocks(simd::load32(w.qs + 32 * p)));
    }
    __m512i lane_scales(int p) const noexcept { return simd::halves(scale[2 * p], scale[2 * p + 1]); }
    float correction(const std::int16_t*) const noexcept { return 0.0f; }
  };
};

// BF16 weights against bf16 activations: vdpbf16ps, 32 pairs per instruction, masked tail.
template <>
struct dot_kernel<bf16_format> {
  using activation_type = bf16;
  template <std::size_t N>
  static void row(const bf16* w, const bf16* const* acts, std::size_t n, float* out) noexcept {
    __m512 acc[N];
    for (std::size_t t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    for (std::size_t i = 0; i < n; i += 32) {
      const auto mask = n - i >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << (n - i)) - 1);
      const __m512i wv = _mm512_maskz_loadu_epi16(mask, w + i);
      for (std::size_t t = 0; t < N; ++t) {
        const __m512i xv = _mm512_maskz_loadu_epi16(mask, acts[t] + i);
        acc[t] = _mm512_dpbf16_ps(acc[t], (__m512bh)wv, (__m512bh)xv);
      }
    }
    for (std::size_t t = 0; t < N; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
  }
};

// F16 and F32 weights against f32 activations: widen to f32 and FMA, masked tail.
template <class Format, class Storage>
struct float_dot {
  using activation_type = float;
  template <std::size_t N>
  static void row(const Storage* w, const float* const* acts, std::size_t n, float* out) noexcept {
    __m512 acc[N];
    for (std::size_t t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
    for (std::size_t i = 0; i < n; i += 16) {
      const auto mask = n - i >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << (n - i)) - 1);
      __m512 wv;
      if constexpr (std::is_same_v<Storage, float>) wv = _mm512_maskz_loadu_ps(mask, w + i);
      else wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, w + i));
      for (std::size_t t = 0; t < N; ++t) acc[t] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask, acts[t] + i), acc[t]);
    }
    for (std::size_t t = 0; t < N; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
  }
};
template <>
struct dot_kernel<f32_format> : float_dot<f32_format, float> {};
template <>
struct dot_kernel<f16_format> : float_dot<f16_format, f16> {};

// Activation storage per format: how many activation elements of activation_type one token's row
// needs, and how to fill it.
template <class Format>
struct activation_layout {
  using type = typename dot_kernel<Format>::activation_type;
  static std::size_t count(std::size_t row_length) noexcept {
    if constexpr (std::is_same_v<type, act_q8_32>) return row_length / 32;
    else if constexpr (std::is_same_v<type, block_q8_k>) return row_length / 256;
    else return row_length;
  }
  static void fill(std::span<const float> x, type* out) noexcept {
    if constexpr (std::is_same_v<type, act_q8_32>) quantize_act_q8_32(x, out);
    else if constexpr (std::is_same_v<type, block_q8_k>) quantize_act_q8_k(x, out);
    else if constexpr (std::is_same_v<type, bf16>) convert_act_bf16(x, out);
    else std::copy(x.begin(), x.end(), out);
  }
};

}  // namespace strix::zen5_kernels
