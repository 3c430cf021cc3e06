// Reference Gated DeltaNet kernels: the recurrence token by token (the definition), and the
// chunked form, derived here because it is what makes prefill matmul-shaped. Within a chunk, with
// Γ_i the running sum of g over the chunk's tokens and W_i = β_i u_i the i-th written value,
//   S_i = e^{Γ_i} S_0 + Σ_{j≤i} e^{Γ_i−Γ_j} k_j W_jᵀ,
//   W_i = β_i (v_i − e^{Γ_i} S_0ᵀ k_i) − Σ_{j<i} β_i e^{Γ_i−Γ_j} (k_i·k_j) W_j   (forward substitution),
//   o_i = e^{Γ_i} S_0ᵀ q_i + Σ_{j≤i} e^{Γ_i−Γ_j} (q_i·k_j) W_j.
// Every exponent is ≤ 0, so nothing overflows however long the chunk.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <strix/device/deltanet_params.hpp>

namespace strix::reference_kernels {

inline void deltanet_recurrent(const deltanet_args& a) {
  const std::size_t tokens = a.v.extent(0), heads = a.v.extent(1), dv = a.v.extent(2);
  const std::size_t dk = a.k.extent(2);
  std::vector<double> u(dv);
  for (std::size_t h = 0; h < heads; ++h) {
    const std::size_t kh = a.key_head(h);
    for (std::size_t t = 0; t < tokens; ++t) {
      const float decay = std::exp(a.log_decay(t, h));
      for (std::size_t i = 0; i < dk; ++i) {
        for (std::size_t j = 0; j < dv; ++j) a.state(h, i, j) *= decay;
      }
      for (std::size_t j = 0; j < dv; ++j) {
        double sk = 0;
        for (std::size_t i = 0; i < dk; ++i) sk += static_cast<double>(a.state(h, i, j)) * a.k(t, kh, i);
        u[j] = (a.v(t, h, j) - sk) * a.beta(t, h);
      }
      for (std::size_t i = 0; i < dk; ++i) {
        for (std::size_t j = 0; j < dv; ++j) a.state(h, i, j) += static_cast<float>(a.k(t, kh, i) * u[j]);
      }
      for (std::size_t j = 0; j < dv; ++j) {
        double o = 0;
        for (std::size_t i = 0; i < dk; ++i) o += static_cast<double>(a.state(h, i, j)) * a.q(t, kh, i);
        a.out(t, h, j) = static_cast<float>(o);
      }
    }
  }
}

inline void deltanet_chunked(const deltanet_args& a, std::size_t chunk) {
  const std::size_t tokens = a.v.extent(0), heads = a.v.extent(1), dv = a.v.extent(2);
  const std::size_t dk = a.k.extent(2);
  chunk = std::max<std::size_t>(chunk, 1);
  std::vector<double> gamma(chunk), w(chunk * dv), s0(dk * dv), o(dv);
  for (std::size_t h = 0; h < heads; ++h) {
    const std::size_t kh = a.key_head(h);
    for (std::size_t c0 = 0; c0 < tokens; c0 += chunk) {
      const std::size_t n = std::min(chunk, tokens - c0);
      for (std::size_t i = 0; i < dk * dv; ++i) s0[i] = a.state(h, i / dv, i % dv);
      double running = 0;
      for (std::size_t i = 0; i < n; ++i) gamma[i] = (running += a.log_decay(c0 + i, h));
      auto dot = [&](const tensor_view<const float, 3>& x, std::size_t ti, std::size_t tj) {
        double sum = 0;
        for (std::size_t d = 0; d < dk; ++d) sum += static_cast<double>(x(c0 + ti, kh, d)) * a.k(c0 + tj, kh, d);
        return sum;
      };
      // W by forward substitution.
      for (std::size_t i = 0; i < n; ++i) {
        const double b = a.beta(c0 + i, h);
        const double from_state = std::exp(gamma[i]);
        for (std::size_t j = 0; j < dv; ++j) {
          double sk = 0;
          for (std::size_t d = 0; d < dk; ++d) sk += s0[d * dv + j] * a.k(c0 + i, kh, d);
          w[i * dv + j] = b * (a.v(c0 + i, h, j) - from_state * sk);
        }
        for (std::size_t p = 0; p < i; ++p) {
          const double coefficient = b * std::exp(gamma[i] - gamma[p]) * dot(a.k, i, p);
          for (std::size_t j = 0; j < dv; ++j) w[i * dv + j] -= coefficient * w[p * dv + j];
        }
      }
      // Outputs.
      for (std::size_t i = 0; i < n; ++i) {
        std::fill(o.begin(), o.end(), 0.0);
        const double from_state = std::exp(gamma[i]);
        for (std::size_t j = 0; j < dv; ++j) {
          for (std::size_t d = 0; d < dk; ++d) o[j] += from_state * s0[d * dv + j] * a.q(c0 + i, kh, d);
        }
        for (std::size_t p = 0; p <= i; ++p) {
          const double coefficient = std::exp(gamma[i] - gamma[p]) * dot(a.q, i, p);
          for (std::size_t j = 0; j < dv; ++j) o[j] += coefficient * w[p * dv + j];
        }
        for (std::size_t j = 0; j < dv; ++j) a.out(c0 + i, h, j) = static_cast<float>(o[j]);
      }
      // The state after the chunk.
      const double last = gamma[n - 1];
      for (std::size_t d = 0; d < dk; ++d) {
        for (std::size_t j = 0; j < dv; ++j) {
          double s = std::exp(last) * s0[d * dv + j];
          for (std::size_t p = 0; p < n; ++p) s += std::exp(last - gamma[p]) * a.k(c0 + p, kh, d) * w[p * dv + j];
          a.state(h, d, j) = static_cast<float>(s);
        }
      }
    }
  }
}

}  // namespace strix::reference_kernels
