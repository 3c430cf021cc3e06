// Reference row-wise and element-wise kernels: RMSNorm, rotary embedding, activations and gated
// products, softmax with an optional soft-cap, residual add and scale, and the row gather and
// weighted scatter-add of MoE dispatch. Scalar, fp32 with fp64
// accumulation where a sum runs over a whole row.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/kernel_params.hpp>

namespace strix::reference_kernels {

inline float apply(activation act, float x) noexcept {
  if (act == activation::silu) return x / (1.0f + std::exp(-x));
  if (act == activation::sigmoid) return 1.0f / (1.0f + std::exp(-x));
  // GELU, tanh approximation (PyTorch's gelu(approximate="tanh"), transformers' gelu_pytorch_tanh).
  constexpr float sqrt_2_over_pi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(sqrt_2_over_pi * (x + 0.044715f * x * x * x)));
}

// 1 / sqrt(mean(x[t]²) + eps), the sum of squares in double.
inline float inverse_rms(matrix_view<const float> x, std::size_t t, float eps) noexcept {
  double sum_sq = 0.0;
  for (std::size_t i = 0; i < x.extent(1); ++i) sum_sq += static_cast<double>(x(t, i)) * x(t, i);
  return static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(x.extent(1)) + eps));
}
inline float norm_scale(norm_weight kind, std::span<const float> weight, std::size_t i) noexcept {
  return kind == norm_weight::none ? 1.0f : kind == norm_weight::plain ? weight[i] : 1.0f + weight[i];
}

// y[t] = x[t] / sqrt(mean(x[t]²) + eps) · scale, scale per norm_weight. x and y may alias.
inline void rmsnorm(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps,
                    matrix_view<float> y) noexcept {
  for (std::size_t t = 0; t < x.extent(0); ++t) {
    const float inv_rms = inverse_rms(x, t, eps);
    for (std::size_t i = 0; i < x.extent(1); ++i) y(t, i) = x(t, i) * inv_rms * norm_scale(kind, weight, i);
  }
}

// residual[t] = (residual[t] + rmsnorm(x[t])) · scale: a block's normalised output added to the
// residual stream (Gemma 4's post-norms), a layer's scale applied with it. x must not alias residual.
inline void rmsnorm_add(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, float scale,
                        matrix_view<float> residual) noexcept {
  for (std::size_t t = 0; t < x.extent(0); ++t) {
    const float inv_rms = inverse_rms(x, t, eps);
    for (std::size_t i = 0; i < x.extent(1); ++i) {
      const float normed = x(t, i) * inv_rms * norm_scale(kind, weight, i);
      residual(t, i) = (residual(t, i) + normed) * scale;
    }
  }
}

// What every policy's rmsnorm_add refuses.
inline void check_rmsnorm_add_shapes(matrix_view<const float> x, std::span<const float> weight, norm_weight kind,
                                     matrix_view<float> residual) {
  if (x.extents() != residual.extents()) {
    throw error(error_category::shape, "rmsnorm_add: x [" + std::to_string(x.extent(0)) + "][" + std::to_string(x.extent(1)) +
                                           "] and the residual [" + std::to_string(residual.extent(0)) + "][" +
                                           std::to_string(residual.extent(1)) + "] differ");
  }
  if (kind != norm_weight::none && weight.size() != x.extent(1)) {
    throw error(error_category::shape, "rmsnorm_add: " + std::to_string(weight.size()) + " weights for rows of " + std::to_string(x.extent(1)));
  }
}

// In place on x[token][head][dim], rotate-half pairing (see rope_frequencies).
inline void rope(tensor_view<float, 3> x, std::span<const std::int32_t> positions, rope_frequencies freq) noexcept {
  const std::size_t half = freq.inv_freq.size();
  for (std::size_t t = 0; t < x.extent(0); ++t) {
    for (std::size_t j = 0; j < half; ++j) {
      const float angle = static_cast<float>(positions[t]) * freq.inv_freq[j];
      const float c = std::cos(angle);
      const float s = std::sin(angle);
      for (std::size_t h = 0; h < x.extent(1); ++h) {
        const float a = x(t, h, j);
        const float b = x(t, h, j + half);
        x(t, h, j) = a * c - b * s;
        x(t, h, j + half) = b * c + a * s;
      }
    }
  }
}

inline void apply_activation(activation act, std::span<const float> x, std::span<float> y) noexcept {
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = apply(act, x[i]);
}

// out = act(gate) · up, element-wise.
inline void gated_activation(activation act, std::span<const float> gate, std::span<const float> up,
                             std::span<float> out) noexcept {
  for (std::size_t i = 0; i < gate.size(); ++i) out[i] = apply(act, gate[i]) * up[i];
}

// out[i] = x[rows[i]]: the rows one expert multiplies, made contiguous.
inline void gather_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, matrix_view<float> out) noexcept {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t c = 0; c < x.extent(1); ++c) out(i, c) = x(static_cast<std::size_t>(rows[i]), c);
  }
}

// out[rows[i]] += weights[i] · x[i], in order of i: an expert's weighted outputs added back to
// their tokens.
inline void scatter_add_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, std::span<const float> weights,
                             matrix_view<float> out) noexcept {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t c = 0; c < x.extent(1); ++c) out(static_cast<std::size_t>(rows[i]), c) += weights[i] * x(i, c);
  }
}

// x = cap · tanh(x / cap), Gemma's logit soft-cap.
inline void softcap(std::span<float> x, float cap) noexcept {
  for (float& v : x) v = cap * std::tanh(v / cap);
}

// Each row in place: softmax(cap · tanh(x / cap)), or softmax(x) when cap == 0. A row holding NaN
// becomes all NaN; a row of -inf stays defined only if some entry is finite.
inline void softmax(matrix_view<float> rows, float cap = 0.0f) noexcept {
  for (std::size_t t = 0; t < rows.extent(0); ++t) {
    const auto row = rows.row(t).span();
    if (cap != 0.0f) softcap(row, cap);
    float max = -INFINITY;
    for (float v : row) max = v > max || std::isnan(v) ? v : max;
    double sum = 0.0;
    for (float& v : row) {
      v = std::exp(v - max);
      sum += v;
    }
    const auto inv = static_cast<float>(1.0 / sum);
    for (float& v : row) v *= inv;
  }
}

inline void add(std::span<const float> a, std::span<const float> b, std::span<float> out) noexcept {
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
}

inline void check_copy_shapes(matrix_view<const float> in, matrix_view<float> out) {
  if (in.extents() != out.extents()) {
    throw error(error_category::shape, "copy: [" + std::to_string(in.extent(0)) + "][" + std::to_string(in.extent(1)) + "] into [" +
                                           std::to_string(out.extent(0)) + "][" + std::to_string(out.extent(1)) + "]: the shapes differ");
  }
}

// out = in, row by row (same shape; rows may be strided).
inline void copy(matrix_view<const float> in, matrix_view<float> out) {
  check_copy_shapes(in, out);
  for (std::size_t r = 0; r < in.extent(0); ++r) {
    for (std::size_t c = 0; c < in.extent(1); ++c) out(r, c) = in(r, c);
  }
}

inline void scale(std::span<float> x, float factor) noexcept {
  for (float& v : x) v *= factor;
}

}  // namespace strix::reference_kernels
