// AVX-512 element-wise kernels through xsimd: the activations (silu, sigmoid, GELU-tanh), the
// gated product act(gate) · up, the soft-cap and the residual add, 16 lanes at a time with xsimd's
// exp and tanh (within a few ulp of libm), the last partial vector through the reference formula.
// Long spans are split over the pool.
#pragma once

#include <cstddef>
#include <span>

#include <xsimd/xsimd.hpp>

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

}  // namespace strix::zen5_kernels
