// AVX-512 dot products of R weight rows with N activation rows, `tile<R, N>` (N = 1 for decode,
// up to 8 for prefill tiles, so each weight vector is unpacked once and used N times; R > 1 only
// for decode where a kernel sets `decode_rows`, though every kernel takes any R so that the choice
// stays a one-line tuning change per CPU). One specialisation per
// weight format: integer formats multiply bytes with vpdpbusd (VNNI) against int8 activations,
// BF16 uses vdpbf16ps, F16/F32 use FMA. A format without a specialisation has no fast path; the
// zen5 policy then uses the reference kernel for it (see zen5.hpp).
#pragma once

#include <strix/device/zen5/intrinsics.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
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
concept has_dot_kernel = requires { typename dot_kernel<Format>::activations; };

// Tokens a dot kernel's tile<R, N> takes at most per call, each unpacked weight vector serving them all:
// 8, or what the kernel says (`max_tokens`): fewer where 8 tokens' accumulators do not fit the 32
// vector registers, 9 for the K-quants' integer-scale kernels (a verify pass of 8 drafts in one
// tile). On session 23's Intel VM, 8 instead of 4 took 5-16 % off the time per token of every
// format but Q6_K (equal) and IQ4_XS (15 % slower: spills).
template <class Kernel>
inline constexpr std::size_t max_tokens_per_call = 8;
template <class Kernel>
  requires requires { Kernel::max_tokens; }
inline constexpr std::size_t max_tokens_per_call<Kernel> = Kernel::max_tokens;

// Weight rows a decode call (one token) takes at once where the kernel says so (`decode_rows`),
// else 1. Float formats stream f32 or bf16 activations as wide as the weights, so
// one token against one row is bound by its two accumulator chains' latency and by reloading the
// activations from L2 (a 14336-wide f32 row overflows L1); several rows share each activation load
// and run independent chains. Integer formats keep one: their loops are bound by vector ports, not
// latency (0-3 % from 4 rows in L2 on session 28's Intel VM). Two rows for Q8_0 and Q6_K, whose
// kernels outrun the memory, brought decode over DRAM closer to the bandwidth on session 29's
// Intel VM, but one row was faster in 22 of 24 alternated pairs on the Zen 5 VMs of sessions 30
// and 31, cache-resident and over DRAM (docs/performance.md), and Zen 5 is the target.
template <class Kernel>
inline constexpr std::size_t decode_rows_per_call = 1;
template <class Kernel>
  requires requires { Kernel::decode_rows; }
inline constexpr std::size_t decode_rows_per_call<Kernel> = Kernel::decode_rows;

namespace simd {

inline __m512i two_lanes(__m256i low, __m256i high) noexcept {
  return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

// The 16 packed bytes of block A and of block B as 64 codes: A's low nibbles, A's high nibbles,
// B's low, B's high (ggml's order within a 32-element block).
inline __m512i nibbles_of_two_blocks(const std::uint8_t* a, const std::uint8_t* b) noexcept {
  const __m512i aabb = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)))),
                                          _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b))), 1);
  const __m512i shift = _mm512_setr_epi64(0, 0, 0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004, 0x0004000400040004);
  return _mm512_and_si512(_mm512_srlv_epi16(aabb, shift), _mm512_set1_epi8(0x0f));
}

// Σ w·x per 4-byte group for signed w and signed x: vpdpbusd needs one unsigned operand, so take
// |w| and move w's sign onto x.
inline __m512i dot_signed(__m512i w, __m512i x) noexcept {
  const __m512i x_signed = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), x_signed);
}

// A 16-entry code table plus `shift` (mod 256) in every 128-bit lane, for vpshufb lookups: tables
// shifted to non-negative codes multiply with one vpdpbusd, and an offset term removes the shift.
inline __m512i shifted_table(const std::array<std::int8_t, 16>& table, int shift) noexcept {
  return _mm512_add_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(table.data()))),
                         _mm512_set1_epi8(static_cast<char>(shift)));
}

inline __m512i dot_unsigned(__m512i w_unsigned, __m512i x) noexcept {
  return _mm512_dpbusd_epi32(_mm512_setzero_si512(), w_unsigned, x);
}

inline __m512i load64(const void* p) noexcept { return _mm512_loadu_si512(p); }
inline __m256i load32(const void* p) noexcept { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

}  // namespace simd

// How each kind of activation row is stored in the matmul workspace: bytes per token, how to fill
// it from floats, and the view a dot kernel reads.
struct q8_32_activations {
  using view = act_q8_32_row;
  static std::size_t bytes(std::size_t n) noexcept { return act_q8_32_row::bytes(n); }
  static void fill(std::span<const float> x, std::byte* dst) noexcept { quantize_act_q8_32(x, dst); }
  static view at(const std::byte* p, std::size_t n) noexcept { return act_q8_32_row::at(p, n); }
};
struct q8_k_activations {
  using view = const act_q8_k_block*;
  static std::size_t bytes(std::size_t n) noexcept { return n / 256 * sizeof(act_q8_k_block); }
  static void fill(std::span<const float> x, std::byte* dst) noexcept { quantize_act_q8_k(x, reinterpret_cast<act_q8_k_block*>(dst)); }
  static view at(const std::byte* p, std::size_t) noexcept { return reinterpret_cast<view>(p); }
};
struct bf16_activations {
  using view = const bf16*;
  static std::size_t bytes(std::size_t n) noexcept { return n * sizeof(bf16); }
  static void fill(std::span<const float> x, std::byte* dst) noexcept { convert_act_bf16(x, reinterpret_cast<bf16*>(dst)); }
  static view at(const std::byte* p, std::size_t) noexcept { return reinterpret_cast<view>(p); }
};
struct f32_activations {
  using view = const float*;
  static std::size_t bytes(std::size_t n) noexcept { return n * sizeof(float); }
  static void fill(std::span<const float> x, std::byte* dst) noexcept { std::memcpy(dst, x.data(), x.size_bytes()); }
  static view at(const std::byte* p, std::size_t) noexcept { return reinterpret_cast<view>(p); }
};

namespace simd {
// The first two bytes of each of 16 consecutive blocks as 16-bit lanes (for a block of odd size,
// its first byte in the low half): word permutes over 128-byte windows of the blocks, which the
// weight loads bring into L1 anyway. A gather did the same in one instruction but cost half the
// kernel's time on Zen 5.
template <class Block>
inline __m256i heads_of_16(const Block* w) noexcept {
  constexpr std::size_t size = sizeof(Block);
  constexpr std::size_t per_window = (128 - 2) / size + 1;  // blocks whose first two bytes lie in 128 bytes
  constexpr std::size_t windows = 16 / per_window;
  static_assert(16 % per_window == 0 && (windows - 1) * per_window * size + 128 <= 16 * size,
                "the windows must stay inside the 16 blocks");
  const auto* bytes = reinterpret_cast<const char*>(w);
  __m512i heads = _mm512_setzero_si512();
  for (std::size_t k = 0; k < windows; ++k) {
    alignas(64) std::uint16_t index[32] = {};
    for (std::size_t j = 0; j < per_window; ++j) index[k * per_window + j] = static_cast<std::uint16_t>(j * size / 2);
    const __mmask32 lanes = ((1u << per_window) - 1) << (k * per_window);
    const char* window = bytes + k * per_window * size;
    heads = _mm512_or_si512(heads, _mm512_maskz_permutex2var_epi16(lanes, _mm512_loadu_si512(window), _mm512_load_si512(index),
                                                                   _mm512_loadu_si512(window + 64)));
  }
  if constexpr (size % 2 == 1) {  // odd blocks start in the high byte of their word
    alignas(64) std::uint16_t shift[32] = {};
    for (std::size_t j = 0; j < 16; ++j) shift[j] = static_cast<std::uint16_t>((j * size) % 2 * 8);
    heads = _mm512_srlv_epi16(heads, _mm512_load_si512(shift));
  }
  return _mm512_castsi512_si256(heads);
}
// Scales of 16 consecutive blocks whose first member is an f16 d.
template <class Block>
inline __m512 f16_scales_of_16(const Block* w) noexcept {
  static_assert(offsetof(Block, d) == 0);
  return _mm512_cvtph_ps(heads_of_16(w));
}
// Lanes 0-7 take scale 2k of `scales`, lanes 8-15 scale 2k+1 (two blocks of 32, or sub-blocks
// 2k and 2k+1 of a super-block).
inline __m512 pair_scales(__m512 scales, int k) noexcept {
  const __m512i index = _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(2 * k), _mm512_set1_epi32(2 * k + 1));
  return _mm512_permutexvar_ps(index, scales);
}
inline float f16_to_float(f16 h) noexcept { return _cvtsh_ss(h.bits); }
// Requests every cache line of [p, p + bytes).
inline void prefetch(const void* p, std::size_t bytes) noexcept {
  const auto* c = static_cast<const char*>(p);
  for (std::size_t off = 0; off < bytes; off += 64) _mm_prefetch(c + off, _MM_HINT_T0);
}
// Decode reads weights once, from DRAM, and neither the hardware prefetcher nor a shorter distance
// keeps two streams busy enough: 2 KiB ahead measured best of 0.5-16 KiB on the Zen 5 VM (+10-35 %
// over the 0.5-1 KiB used before).
inline constexpr std::size_t prefetch_distance = 2048;
inline void prefetch_ahead(const void* p, std::size_t bytes) noexcept { prefetch(static_cast<const char*>(p) + prefetch_distance, bytes); }
// Lanes of a 16-float step that lie before the end of a row `remaining` elements away.
inline __mmask16 tail_mask16(std::size_t remaining) noexcept {
  return remaining >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << remaining) - 1);
}
}  // namespace simd

// Formats of 32-element blocks against int8 activation blocks: two blocks per register, sixteen
// blocks' scales per gather. Each specialisation provides codes(a, b) (the 64 weight bytes of two
// blocks), whether they are signed, the scales of 16 blocks and of one, and a code offset
// subtracted from every code (Q4_0's 8).
template <class Derived, class Block>
struct dot_kernel_32 {
  using activations = q8_32_activations;

  // out[r · N + t] = row r (at w + r · row_stride blocks) · token t, for R rows and N tokens; each
  // pair sums in the same order whatever R and N are.
  template <std::size_t R, std::size_t N>
  static void tile(const Block* w, std::size_t row_stride, const act_q8_32_row* acts, std::size_t n_blocks, float* out) noexcept {
    __m512 acc[R][N][2];
    __m512 offsets[R][N];
    float tail_offsets[R][N] = {};
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t t = 0; t < N; ++t) acc[r][t][0] = acc[r][t][1] = offsets[r][t] = _mm512_setzero_ps();
    }
    std::size_t b = 0;
    for (; b + 16 <= n_blocks; b += 16) {
      for (std::size_t r = 0; r < R; ++r) {
        const Block* row = w + r * row_stride;
        simd::prefetch_ahead(row + b, 16 * sizeof(Block));
        const __m512 weight_scales = Derived::scales_of_16(row + b);
        __m512 scales[N];
        for (std::size_t t = 0; t < N; ++t) {
          scales[t] = _mm512_mul_ps(weight_scales, _mm512_loadu_ps(acts[t].d + b));
          if constexpr (Derived::code_offset != 0) {
            offsets[r][t] = _mm512_fmadd_ps(scales[t], _mm512_cvtepi32_ps(_mm512_loadu_si512(acts[t].sum + b)), offsets[r][t]);
          }
        }
        for (int k = 0; k < 8; ++k) {
          const __m512i codes = Derived::codes(row[b + 2 * k], row[b + 2 * k + 1]);
          for (std::size_t t = 0; t < N; ++t) {
            const __m512i x = simd::load64(acts[t].qs + 32 * (b + 2 * k));
            const __m512i dot = Derived::is_signed ? simd::dot_signed(codes, x) : simd::dot_unsigned(codes, x);
            acc[r][t][k & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), simd::pair_scales(scales[t], k), acc[r][t][k & 1]);
          }
        }
      }
    }
    for (; b < n_blocks; ++b) {  // fewer than 16 left: one block at a time, upper half zeroed
      for (std::size_t r = 0; r < R; ++r) {
        const Block& block = w[r * row_stride + b];
        const __m512i codes = _mm512_maskz_mov_epi64(0x0f, Derived::codes(block, block));
        const float weight_scale = Derived::scale(block);
        for (std::size_t t = 0; t < N; ++t) {
          const __m512i x = _mm512_zextsi256_si512(simd::load32(acts[t].qs + 32 * b));
          const __m512i dot = Derived::is_signed ? simd::dot_signed(codes, x) : simd::dot_unsigned(codes, x);
          const float scale = weight_scale * acts[t].d[b];
          acc[r][t][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_set1_ps(scale), acc[r][t][0]);
          if constexpr (Derived::code_offset != 0) tail_offsets[r][t] += scale * static_cast<float>(acts[t].sum[b]);
        }
      }
    }
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t t = 0; t < N; ++t) {
        float& o = out[r * N + t];
        o = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][t][0], acc[r][t][1]));
        if constexpr (Derived::code_offset != 0) o -= Derived::code_offset * (_mm512_reduce_add_ps(offsets[r][t]) + tail_offsets[r][t]);
      }
    }
  }
};

template <>
struct dot_kernel<q8_0_format> : dot_kernel_32<dot_kernel<q8_0_format>, block_q8_0> {
  static constexpr bool is_signed = true;
  static constexpr float code_offset = 0.0f;
  static __m512i codes(const block_q8_0& a, const block_q8_0& b) noexcept { return simd::two_lanes(simd::load32(a.qs), simd::load32(b.qs)); }
  static __m512 scales_of_16(const block_q8_0* w) noexcept { return simd::f16_scales_of_16(w); }
  static float scale(const block_q8_0& w) noexcept { return simd::f16_to_float(w.d); }
};

template <>
struct dot_kernel<q4_0_format> : dot_kernel_32<dot_kernel<q4_0_format>, block_q4_0> {
  static constexpr bool is_signed = false;
  static constexpr float code_offset = 8.0f;  // value = (nibble - 8) · d
  static __m512i codes(const block_q4_0& a, const block_q4_0& b) noexcept { return simd::nibbles_of_two_blocks(a.qs, b.qs); }
  static __m512 scales_of_16(const block_q4_0* w) noexcept { return simd::f16_scales_of_16(w); }
  static float scale(const block_q4_0& w) noexcept { return simd::f16_to_float(w.d); }
};

// The code table shifted by 12 (its values are -12..12), so that codes are unsigned and multiply
// with one vpdpbusd instead of dot_signed's four instructions; the offset term takes the 12 back out.
// (For Q8_0 the same trick measured slower: its offset term costs more than the sign moves.)
template <>
struct dot_kernel<mxfp4_format> : dot_kernel_32<dot_kernel<mxfp4_format>, block_mxfp4> {
  static constexpr bool is_signed = false;
  static constexpr float code_offset = 12.0f;
  static __m512i codes(const block_mxfp4& a, const block_mxfp4& b) noexcept {
    return _mm512_shuffle_epi8(simd::shifted_table(mxfp4_code_table, 12), simd::nibbles_of_two_blocks(a.qs, b.qs));
  }
  // mxfp4_half_scale on 16 exponents at once.
  static __m512 scales_of_16(const block_mxfp4* w) noexcept {
    const __m512i e = _mm512_and_si512(_mm512_cvtepu16_epi32(simd::heads_of_16(w)), _mm512_set1_epi32(0xff));
    const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
    const __m512i subnormal = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(_mm512_cmplt_epu32_mask(e, _mm512_set1_epi32(2)), normal, subnormal));
  }
  static float scale(const block_mxfp4& w) noexcept { return mxfp4_half_scale(w.e); }
};

// Super-block formats against Q8_K. Each specialisation unpacks a block once and provides, for each
// of 4 parts of 64 elements (in dequantization order, so the activation bytes load as they are),
// the 64 codes (unsigned); the weights of its offset term (offset_weights, multiplied lane by lane
// with activation_sums(x), the token's scaled sums per group or sub-block, and subtracted); and
// scales in one of two ways:
// - integer scales (part_scales(p): the sub-block scale of each 16-bit lane, and the block's float
//   scale d): the codes multiply with vpmaddubsw into 16-bit pair sums (no overflow: codes below 64,
//   activations in [-127, 127]), and vpdpwssd multiplies those by the scales and accumulates a
//   whole block in 32-bit integers, so a token pays one conversion and FMA per block instead of
//   one per part;
// - float scales (lane_scales(scaled, p), the scales times d as floats in `scales`): for codes too
//   large for vpmaddubsw (IQ4_XS's table shifted to unsigned reaches 241), vpdpbusd per part, then a
//   conversion and an FMA with the lanes' scales.
template <class Derived, class Block>
struct dot_kernel_256 {
  using activations = q8_k_activations;
  // Tokens per call: with integer scales a token holds two registers (its block sum and its
  // accumulator), so 9 fit, and a speculative verify pass of 8 drafts + 1 is one tile instead of
  // 5 + 4 (Q4_K 2560x2560 on the Zen 5 VM: 446-489 µs against 482-516, Q6_K 487-508 against
  // 525-546). A kernel with float scales says how many it takes.
  static constexpr std::size_t max_tokens = 9;

  // out[r · N + t] = row r (at w + r · row_stride blocks) · token t, for R rows and N tokens; each
  // pair sums in the same order whatever R and N are.
  template <std::size_t R, std::size_t N>
  static void tile(const Block* w, std::size_t row_stride, const act_q8_k_block* const* acts, std::size_t n_blocks, float* out) noexcept {
    using unpacked = typename Derived::unpacked;
    constexpr bool integer_scales = requires(const unpacked& u) { u.part_scales(0); };
    __m512 acc[R][N][2];
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t t = 0; t < N; ++t) acc[r][t][0] = acc[r][t][1] = _mm512_setzero_ps();
    }
    for (std::size_t b = 0; b < n_blocks; ++b) {
      for (std::size_t r = 0; r < R; ++r) {
        const Block& block = w[r * row_stride + b];
        simd::prefetch_ahead(&block, sizeof(Block));
        const unpacked u(block);
        if constexpr (integer_scales) {
          __m512i sums[N];
          for (std::size_t t = 0; t < N; ++t) sums[t] = _mm512_setzero_si512();
          for (int p = 0; p < 4; ++p) {
            const __m512i codes = u.codes(block, p);
            const __m512i scales = u.part_scales(p);
            for (std::size_t t = 0; t < N; ++t) {
              sums[t] = _mm512_dpwssd_epi32(sums[t], _mm512_maddubs_epi16(codes, simd::load64(acts[t][b].qs + 64 * p)), scales);
            }
          }
          for (std::size_t t = 0; t < N; ++t) {
            acc[r][t][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[t]), _mm512_set1_ps(u.d * acts[t][b].d), acc[r][t][0]);
          }
        } else {
          __m512 scales[N];  // the block's scales times each token's activation scale
          for (std::size_t t = 0; t < N; ++t) scales[t] = _mm512_mul_ps(u.scales, _mm512_set1_ps(acts[t][b].d));
          for (int p = 0; p < 4; ++p) {
            const __m512i codes = u.codes(block, p);
            for (std::size_t t = 0; t < N; ++t) {
              const __m512i dot = simd::dot_unsigned(codes, simd::load64(acts[t][b].qs + 64 * p));
              acc[r][t][p & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), unpacked::lane_scales(scales[t], p), acc[r][t][p & 1]);
            }
          }
        }
        // Into an accumulator the token already has: with integer scales the first, as a register
        // per token of its own made 8 tokens 10-16 % slower.
        constexpr std::size_t offset_acc = integer_scales ? 0 : 1;
        for (std::size_t t = 0; t < N; ++t) {
          acc[r][t][offset_acc] = _mm512_fnmadd_ps(u.offset_weights, unpacked::activation_sums(acts[t][b]), acc[r][t][offset_acc]);
        }
      }
    }
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t t = 0; t < N; ++t) out[r * N + t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][t][0], acc[r][t][1]));
    }
  }
};

namespace simd {
// 32 packed bytes as 64 nibbles: the low nibbles (one sub-block), then the high ones (the next).
inline __m512i low_then_high_nibbles(const std::uint8_t* packed) noexcept {
  const __m512i both = _mm512_broadcast_i64x4(load32(packed));
  const __m512i shift = _mm512_mask_blend_epi32(0xff00, _mm512_setzero_si512(), _mm512_set1_epi16(4));
  return _mm512_and_si512(_mm512_srlv_epi16(both, shift), _mm512_set1_epi8(0x0f));
}
// Eight unsigned byte values as floats times `factor`.
inline __m256 bytes_as_floats(std::uint64_t bytes, float factor) noexcept {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(bytes)))), _mm256_set1_ps(factor));
}
// 16-bit lane i takes word first + i / Run of `words`: a sub-block's scale over the lanes of its
// pair sums.
template <int Run>
inline __m512i repeat_words(__m512i words, int first) noexcept {
  static constexpr std::array<std::int16_t, 32> runs = [] {
    std::array<std::int16_t, 32> r{};
    for (int i = 0; i < 32; ++i) r[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(i / Run);
    return r;
  }();
  return _mm512_permutexvar_epi16(_mm512_add_epi16(_mm512_set1_epi16(static_cast<short>(first)), _mm512_loadu_si512(runs.data())), words);
}
// A token's scaled sums of its 8 sub-blocks of 32 in lanes 0-7, zeros above.
inline __m512 sub_block_sums(const act_q8_k_block& x) noexcept { return _mm512_zextps256_ps512(_mm256_loadu_ps(x.sub_block_sums)); }
}  // namespace simd

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins; value = d·sc·q − dmin·m.
template <class Block, int Bits>
struct q45_k_dot : dot_kernel_256<q45_k_dot<Block, Bits>, Block> {
  struct unpacked {
    float d;
    __m512i scales;         // sc for the 8 sub-blocks, 16-bit words 0-7
    __m512 offset_weights;  // dmin·m for the 8 sub-blocks, lanes 0-7 (8-15 zero)
    __m512i high_bits;

    explicit unpacked(const Block& w) noexcept {
      // The 12-byte packing (see unpack_scale_min_k4), four sub-blocks at a time.
      std::uint32_t q[3];
      std::memcpy(q, w.scales, 12);
      const std::uint32_t scales_low = q[0] & 0x3f3f3f3fu;
      const std::uint32_t mins_low = q[1] & 0x3f3f3f3fu;
      const std::uint32_t scales_high = (q[2] & 0x0f0f0f0fu) | (((q[0] >> 6) & 0x03030303u) << 4);
      const std::uint32_t mins_high = ((q[2] >> 4) & 0x0f0f0f0fu) | (((q[1] >> 6) & 0x03030303u) << 4);
      d = simd::f16_to_float(w.d);
      scales = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(static_cast<long long>(scales_low | std::uint64_t{scales_high} << 32))));
      offset_weights = _mm512_zextps256_ps512(simd::bytes_as_floats(mins_low | std::uint64_t{mins_high} << 32, simd::f16_to_float(w.dmin)));
      if constexpr (Bits == 5) high_bits = _mm512_broadcast_i64x4(simd::load32(w.qh));
    }
    __m512i codes(const Block& w, int p) const noexcept {
      __m512i q = simd::low_then_high_nibbles(w.qs + 32 * p);
      if constexpr (Bits == 5) {
        // Sub-block 2p takes bit 2p of qh[l], sub-block 2p+1 bit 2p+1.
        const __m512i select = _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi8(static_cast<char>(1 << (2 * p))),
                                                       _mm512_set1_epi8(static_cast<char>(1 << (2 * p + 1))));
        q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(high_bits, select), q, _mm512_set1_epi8(16));
      }
      return q;
    }
    // Part p is sub-blocks 2p (pair sums 0-15) and 2p + 1 (16-31).
    __m512i part_scales(int p) const noexcept { return simd::repeat_words<16>(scales, 2 * p); }
    static __m512 activation_sums(const act_q8_k_block& x) noexcept { return simd::sub_block_sums(x); }
  };
};
template <>
struct dot_kernel<q4_k_format> : q45_k_dot<block_q4_k, 4> {};
template <>
struct dot_kernel<q5_k_format> : q45_k_dot<block_q5_k, 5> {};

// Q6_K: 16 groups of 16 with int8 scales; value = d·sc·(q − 32). Part p is half p/2, quarters
// 2·(p%2) and 2·(p%2)+1 of it, in dequantization order.
template <>
struct dot_kernel<q6_k_format> : dot_kernel_256<dot_kernel<q6_k_format>, block_q6_k> {
  struct unpacked {
    float d;
    __m256i group_scales;   // sc for the 16 groups, 16-bit words
    __m512 offset_weights;  // 32·d·sc for the 16 groups (the codes are q + 32)

    explicit unpacked(const block_q6_k& w) noexcept
        : d(simd::f16_to_float(w.d)), group_scales(_mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)))),
          offset_weights(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(group_scales)), _mm512_set1_ps(32.0f * d))) {}
    __m512i codes(const block_q6_k& w, int p) const noexcept {
      const int half = p / 2;
      const __m512i low_bits = simd::load64(w.ql + 64 * half);
      const __m512i nibble = _mm512_set1_epi8(0x0f);
      const __m512i low = (p % 2 == 0) ? _mm512_and_si512(low_bits, nibble) : _mm512_and_si512(_mm512_srli_epi16(low_bits, 4), nibble);
      // Quarters 0,1 use bits 0-1 and 2-3 of qh; quarters 2,3 bits 4-5 and 6-7.
      const __m512i qh = _mm512_broadcast_i64x4(simd::load32(w.qh + 32 * half));
      const int s = 4 * (p % 2);
      const __m512i shift = _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi16(static_cast<short>(s)), _mm512_set1_epi16(static_cast<short>(s + 2)));
      const __m512i high = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shift), _mm512_set1_epi8(3)), 4);
      return _mm512_or_si512(low, high);
    }
    // Part p is groups 4p … 4p + 3, each over 8 pair sums.
    __m512i part_scales(int p) const noexcept { return simd::repeat_words<8>(_mm512_castsi256_si512(group_scales), 4 * p); }
    static __m512 activation_sums(const act_q8_k_block& x) noexcept { return _mm512_loadu_ps(x.group_sums); }
  };
};

// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (ls − 32); values from the non-linear table,
// shifted by 128 to be unsigned (see MXFP4), the offsets taking it back out.
template <>
struct dot_kernel<iq4_xs_format> : dot_kernel_256<dot_kernel<iq4_xs_format>, block_iq4_xs> {
  static constexpr std::size_t max_tokens = 4;  // its float scales per token take a register each
  struct unpacked {
    __m512 scales;          // d·(ls − 32) for the 8 sub-blocks, lanes 0-7
    __m512 offset_weights;  // 128 · scales, lanes 0-7 (8-15 zero)
    explicit unpacked(const block_iq4_xs& w) noexcept {
      std::uint32_t low_bits;
      std::memcpy(&low_bits, w.scales_l, 4);
      // sub-block k: bits 4k..4k+3 of scales_l and bits 2k, 2k+1 of scales_h
      const __m256i low = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(low_bits)), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                           _mm256_set1_epi32(0x0f));
      const __m256i high = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(w.scales_h << 4), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                            _mm256_set1_epi32(0x30));
      const __m256 ls = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_or_si256(low, high), _mm256_set1_epi32(32)));
      scales = _mm512_zextps256_ps512(_mm256_mul_ps(ls, _mm256_set1_ps(simd::f16_to_float(w.d))));
      offset_weights = _mm512_mul_ps(scales, _mm512_set1_ps(128.0f));
    }
    __m512i codes(const block_iq4_xs& w, int p) const noexcept {
      return _mm512_shuffle_epi8(simd::shifted_table(iq4_code_table, 128), simd::nibbles_of_two_blocks(w.qs + 32 * p, w.qs + 32 * p + 16));
    }
    static __m512 lane_scales(__m512 scaled, int p) noexcept { return simd::pair_scales(scaled, p); }
    static __m512 activation_sums(const act_q8_k_block& x) noexcept { return simd::sub_block_sums(x); }
  };
};

// The kernel of the float formats: R weight rows by N tokens, each pair of row and token summed in
// two accumulators (so one does not wait on the other's latency) over steps of two vectors of
// Elements::lanes, then a masked tail of single vectors into the first, in the same order whatever
// R and N are. Elements says how weights and activations load into vectors and multiply-add:
// weight, activation (element types), activations (the row format of the activations), lanes,
// tail_mask(remaining), load_weights(p[, mask]), load_activations(p[, mask]), multiply_add(acc,
// w, a).
template <class Elements>
struct two_chain_dot {
  using activations = typename Elements::activations;
  using weight = typename Elements::weight;
  using activation = typename Elements::activation;
  static constexpr std::size_t decode_rows = 8;
  static constexpr std::size_t lanes = Elements::lanes;

  // out[r · N + t] = row r (at w + r · row_stride) · token t.
  template <std::size_t R, std::size_t N>
  static void tile(const weight* w, std::size_t row_stride, const activation* const* acts, std::size_t n, float* out) noexcept {
    __m512 acc[R][N][2];
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t t = 0; t < N; ++t) acc[r][t][0] = acc[r][t][1] = _mm512_setzero_ps();
    }
    std::size_t i = 0;
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
      for (std::size_t r = 0; r < R; ++r) {
        const weight* row = w + r * row_stride;
        simd::prefetch_ahead(row + i, 2 * lanes * sizeof(weight));
        const auto w0 = Elements::load_weights(row + i);
        const auto w1 = Elements::load_weights(row + i + lanes);
        for (std::size_t t = 0; t < N; ++t) {
          acc[r][t][0] = Elements::multiply_add(acc[r][t][0], w0, Elements::load_activations(acts[t] + i));
          acc[r][t][1] = Elements::multiply_add(acc[r][t][1], w1, Elements::load_activations(acts[t] + i + lanes));
        }
      }
    }
    for (; i < n; i += lanes) {
      const auto mask = Elements::tail_mask(n - i);
      for (std::size_t r = 0; r < R; ++r) {
        const auto wv = Elements::load_weights(w + r * row_stride + i, mask);
        for (std::size_t t = 0; t < N; ++t) acc[r][t][0] = Elements::multiply_add(acc[r][t][0], wv, Elements::load_activations(acts[t] + i, mask));
      }
    }
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t t = 0; t < N; ++t) out[r * N + t] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][t][0], acc[r][t][1]));
    }
  }
};

// BF16 weights against bf16 activations: vdpbf16ps, 32 pairs per instruction.
struct bf16_elements {
  using activations = bf16_activations;
  using weight = bf16;
  using activation = bf16;
  static constexpr std::size_t lanes = 32;
  static __mmask32 tail_mask(std::size_t remaining) noexcept {
    return remaining >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << remaining) - 1);
  }
  static __m512i load_weights(const bf16* p) noexcept { return _mm512_loadu_si512(p); }
  static __m512i load_weights(const bf16* p, __mmask32 mask) noexcept { return _mm512_maskz_loadu_epi16(mask, p); }
  static __m512i load_activations(const bf16* p) noexcept { return _mm512_loadu_si512(p); }
  static __m512i load_activations(const bf16* p, __mmask32 mask) noexcept { return _mm512_maskz_loadu_epi16(mask, p); }
  static __m512 multiply_add(__m512 acc, __m512i w, __m512i a) noexcept { return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)a); }
};

// F16 and F32 weights against f32 activations: F16 widened to f32, then FMA.
template <class Storage>
struct float_elements {
  using activations = f32_activations;
  using weight = Storage;
  using activation = float;
  static constexpr std::size_t lanes = 16;
  static __mmask16 tail_mask(std::size_t remaining) noexcept { return simd::tail_mask16(remaining); }
  // 16 stored values (those `mask` selects, the rest zero) as f32.
  static __m512 widen(const Storage* p, __mmask16 mask) noexcept {
    if constexpr (std::is_same_v<Storage, float>) return _mm512_maskz_loadu_ps(mask, p);
    else return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
  }
  static __m512 load_weights(const Storage* p, __mmask16 mask = 0xffff) noexcept { return widen(p, mask); }
  static __m512 load_activations(const float* p) noexcept { return _mm512_loadu_ps(p); }
  static __m512 load_activations(const float* p, __mmask16 mask) noexcept { return _mm512_maskz_loadu_ps(mask, p); }
  static __m512 multiply_add(__m512 acc, __m512 w, __m512 a) noexcept { return _mm512_fmadd_ps(w, a, acc); }
};

template <>
struct dot_kernel<bf16_format> : two_chain_dot<bf16_elements> {};
template <>
struct dot_kernel<f32_format> : two_chain_dot<float_elements<float>> {};
template <>
struct dot_kernel<f16_format> : two_chain_dot<float_elements<f16>> {};

}  // namespace strix::zen5_kernels
