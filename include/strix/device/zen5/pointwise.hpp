// AVX-512 element-wise kernels through xsimd: the activations (silu, sigmoid, GELU-tanh), the
// gated product act(gate) · up and the soft-cap, 16 lanes at a time with xsimd's exp and tanh
// (within a few ulp of libm), the last partial vector through the reference formula; and the row
// gather / weighted scatter-add of MoE dispatch. Long spans are split over the pool.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include <xsimd/xsimd.hpp>

#include <strix/core/tensor_view.hpp>
#include <strix/core/thread_pool.hpp>
#include <strix/device/kernel_params.hpp>
#include <strix/device/reference/pointwise.hpp>

namespace strix::zen5_kernels {

using float16 = xsimd::batch<float, xsimd::avx512bw>;

inline float16 apply(activation act, float16 x) noexcept {
  const float16 one(1.0f);
  switch (act) {
    case activation::silu: return x / (one + xsimd::exp(-x));
    case activation::sigmoid: return one / (one + xsimd::exp(-x));
    case activation::gelu_tanh: {
      const float16 inner = float16(0.7978845608028654f) * xsimd::fma(float16(0.044715f) * x * x, x, x);
      return float16(0.5f) * x * (one + xsimd::tanh(inner));
    }
  }
  return x;
}

// Elements per pool task (a multiple of 16): enough work to pay for handing it out.
inline constexpr std::size_t pointwise_grain = 16384;

inline void apply_activation(thread_pool& pool, activation act, std::span<const float> x, std::span<float> y) {
  pool.parallel_for(0, x.size(), pointwise_grain, [&](std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    for (; i + float16::size <= end; i += float16::size) apply(act, float16::load_unaligned(x.data() + i)).store_unaligned(y.data() + i);
    reference_kernels::apply_activation(act, x.subspan(i, end - i), y.subspan(i, end - i));
  });
}

inline void gated_activation(thread_pool& pool, activation act, std::span<const float> gate, std::span<const float> up,
                             std::span<float> out) {
  pool.parallel_for(0, gate.size(), pointwise_grain, [&](std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    for (; i + float16::size <= end; i += float16::size) {
      (apply(act, float16::load_unaligned(gate.data() + i)) * float16::load_unaligned(up.data() + i)).store_unaligned(out.data() + i);
    }
    reference_kernels::gated_activation(act, gate.subspan(i, end - i), up.subspan(i, end - i), out.subspan(i, end - i));
  });
}

inline void softcap(thread_pool& pool, std::span<float> x, float cap) {
  pool.parallel_for(0, x.size(), pointwise_grain, [&](std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    const float16 c(cap);
    for (; i + float16::size <= end; i += float16::size) (c * xsimd::tanh(float16::load_unaligned(x.data() + i) / c)).store_unaligned(x.data() + i);
    reference_kernels::softcap(x.subspan(i, end - i), cap);
  });
}

// Over rows: each task copies whole rows.
inline void gather_rows(thread_pool& pool, matrix_view<const float> x, std::span<const std::int32_t> rows, matrix_view<float> out) {
  const std::size_t grain = std::max<std::size_t>(1, pointwise_grain / std::max<std::size_t>(1, x.extent(1)));
  pool.parallel_for(0, rows.size(), grain, [&](std::size_t begin, std::size_t end) {
    reference_kernels::gather_rows(x, rows.subspan(begin, end - begin), out.slice(begin, end));
  });
}

// Over column ranges, every task taking all rows in order: the same sums in the same order as the
// reference, and no two tasks touching one element even where rows repeat.
inline void scatter_add_rows(thread_pool& pool, matrix_view<const float> x, std::span<const std::int32_t> rows,
                             std::span<const float> weights, matrix_view<float> out) {
  const std::size_t cols = x.extent(1);
  const std::size_t grain = std::max<std::size_t>(64, pointwise_grain / std::max<std::size_t>(1, rows.size())) / 16 * 16;
  pool.parallel_for(0, cols, grain, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const float* src = &x(i, begin);
      float* dst = &out(static_cast<std::size_t>(rows[i]), begin);
      const float16 w(weights[i]);
      std::size_t c = 0;
      for (; c + float16::size <= end - begin; c += float16::size) {
        xsimd::fma(w, float16::load_unaligned(src + c), float16::load_unaligned(dst + c)).store_unaligned(dst + c);
      }
      for (; c < end - begin; ++c) dst[c] += weights[i] * src[c];
    }
  });
}

}  // namespace strix::zen5_kernels
