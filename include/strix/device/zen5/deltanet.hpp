// AVX-512 Gated DeltaNet kernels, one task per value head (the heads are independent), on the
// caller's pool.
//
// Recurrent (decode): per token, two passes over the head's state in column blocks of up to 128
// (8 registers): a read-only one forming Sᵀk and Sᵀq, and one that writes the decayed, updated S
// (the output follows from Sᵀq, k·q and u without reading the new S). A column block's
// accumulators stay in registers for the whole pass.
//
// Chunked (prefill): the algebra of reference/deltanet.hpp as small matrix products through one
// register-tiled product (4 rows × 64 columns of accumulators): K·S0 and Q·S0, the chunk's
// Gram matrices K·Kᵀ and Q·Kᵀ, forward substitution for the written values W row by row, the
// causal product (decayed Q·Kᵀ)·W for the outputs, and Kᵀ·W for the new state. Each task takes a
// slice of the caller's workspace (chunked_workspace_floats per head).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <strix/core/thread_pool.hpp>
#include <strix/device/deltanet_params.hpp>
#include <strix/device/zen5/dot_kernels.hpp>
#include <strix/device/zen5/intrinsics.hpp>

namespace strix::zen5_kernels {

namespace deltanet_detail {

// Columns of one register block: 8 vectors of 16.
inline constexpr std::size_t column_block = 128;

// A row-major float matrix: element (r, c) at data[r * stride + c].
template <class T>
struct rows_of {
  T* data;
  std::size_t stride;
  T* row(std::size_t r) const noexcept { return data + r * stride; }
};

template <int Vectors>
struct column_masks {
  __mmask16 lane[Vectors];
  explicit column_masks(std::size_t columns) noexcept {
    for (int v = 0; v < Vectors; ++v) lane[v] = simd::tail_mask16(columns > 16u * v ? columns - 16u * v : 0);
  }
};

// C[Rows × 16·Vectors] (+)= A[Rows × depth] · B[depth × 16·Vectors], masked to `columns`.
template <int Rows, int Vectors>
inline void product_tile(rows_of<const float> a, rows_of<const float> b, rows_of<float> c, std::size_t depth, std::size_t columns,
                         bool accumulate) noexcept {
  const column_masks<Vectors> m(columns);
  __m512 acc[Rows][Vectors];
  for (int r = 0; r < Rows; ++r) {
    for (int v = 0; v < Vectors; ++v) {
      acc[r][v] = accumulate ? _mm512_maskz_loadu_ps(m.lane[v], c.row(r) + 16 * v) : _mm512_setzero_ps();
    }
  }
  for (std::size_t k = 0; k < depth; ++k) {
    __m512 bv[Vectors];
    for (int v = 0; v < Vectors; ++v) bv[v] = _mm512_maskz_loadu_ps(m.lane[v], b.row(k) + 16 * v);
    for (int r = 0; r < Rows; ++r) {
      const __m512 av = _mm512_set1_ps(a.row(r)[k]);
      for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < Rows; ++r) {
    for (int v = 0; v < Vectors; ++v) _mm512_mask_storeu_ps(c.row(r) + 16 * v, m.lane[v], acc[r][v]);
  }
}

template <int Rows>
inline void product_rows(rows_of<const float> a, rows_of<const float> b, rows_of<float> c, std::size_t depth, std::size_t columns,
                         bool accumulate) noexcept {
  for (std::size_t c0 = 0; c0 < columns; c0 += 64) {
    const std::size_t n = std::min<std::size_t>(64, columns - c0);
    const rows_of<const float> bc{b.data + c0, b.stride};
    const rows_of<float> cc{c.data + c0, c.stride};
    switch ((n + 15) / 16) {
      case 1: product_tile<Rows, 1>(a, bc, cc, depth, n, accumulate); break;
      case 2: product_tile<Rows, 2>(a, bc, cc, depth, n, accumulate); break;
      case 3: product_tile<Rows, 3>(a, bc, cc, depth, n, accumulate); break;
      default: product_tile<Rows, 4>(a, bc, cc, depth, n, accumulate); break;
    }
  }
}

// C[m × n] (+)= A[m × depth] · B[depth × n]. With `causal`, row r of A is zero past column r, so
// its product stops there (rows of a tile share the tile's last row's limit).
inline void product(rows_of<const float> a, rows_of<const float> b, rows_of<float> c, std::size_t m, std::size_t depth, std::size_t n,
                    bool accumulate, bool causal = false) noexcept {
  for (std::size_t r0 = 0; r0 < m; r0 += 4) {
    const std::size_t rows = std::min<std::size_t>(4, m - r0);
    const std::size_t used = causal ? std::min(depth, r0 + rows) : depth;
    const rows_of<const float> ar{a.row(r0), a.stride};
    const rows_of<float> cr{c.row(r0), c.stride};
    switch (rows) {
      case 1: product_rows<1>(ar, b, cr, used, n, accumulate); break;
      case 2: product_rows<2>(ar, b, cr, used, n, accumulate); break;
      case 3: product_rows<3>(ar, b, cr, used, n, accumulate); break;
      default: product_rows<4>(ar, b, cr, used, n, accumulate); break;
    }
  }
}

// Loads and stores of a row's 16-lane vector v: plain ones except for a partial last vector, as
// masked stores are slow on Zen 4 and pay for nothing on full vectors.
template <int Vectors, bool Tail>
struct row_access {
  __mmask16 last;
  explicit row_access(std::size_t columns) noexcept : last(simd::tail_mask16(columns - 16 * (Vectors - 1))) {}
  [[nodiscard]] __m512 load(const float* row, int v) const noexcept {
    return Tail && v == Vectors - 1 ? _mm512_maskz_loadu_ps(last, row + 16 * v) : _mm512_loadu_ps(row + 16 * v);
  }
  void store(float* row, int v, __m512 x) const noexcept {
    if (Tail && v == Vectors - 1) {
      _mm512_mask_storeu_ps(row + 16 * v, last, x);
    } else {
      _mm512_storeu_ps(row + 16 * v, x);
    }
  }
};

// One token of the recurrence on columns [0, columns) (≤ 128) of a head's state. A read-only
// pass forms Sᵀk and Sᵀq of the old state; then, with d = exp(g), u = β(v − d·Sᵀk) and
// o = d·Sᵀq + (k·q) u, a read-write pass stores S ← d·S + k uᵀ.
template <int Vectors, bool Tail>
inline void recurrent_step(rows_of<float> state, std::size_t dk, std::size_t columns, const float* q, const float* k, const float* v,
                           float decay, float beta, float* out) noexcept {
  const row_access<Vectors, Tail> access(columns);
  __m512 sk[Vectors], sq[Vectors];
  for (int j = 0; j < Vectors; ++j) sk[j] = sq[j] = _mm512_setzero_ps();
  float kq = 0.0f;
  for (std::size_t i = 0; i < dk; ++i) {
    const __m512 ki = _mm512_set1_ps(k[i]), qi = _mm512_set1_ps(q[i]);
    const float* row = state.row(i);
    for (int j = 0; j < Vectors; ++j) {
      const __m512 s = access.load(row, j);
      sk[j] = _mm512_fmadd_ps(ki, s, sk[j]);
      sq[j] = _mm512_fmadd_ps(qi, s, sq[j]);
    }
    kq += k[i] * q[i];
  }
  const __m512 decay_v = _mm512_set1_ps(decay), beta_v = _mm512_set1_ps(beta), kq_v = _mm512_set1_ps(kq);
  for (int j = 0; j < Vectors; ++j) {
    sk[j] = _mm512_mul_ps(beta_v, _mm512_fnmadd_ps(decay_v, sk[j], access.load(v, j)));  // u
    access.store(out, j, _mm512_fmadd_ps(kq_v, sk[j], _mm512_mul_ps(decay_v, sq[j])));
  }
  for (std::size_t i = 0; i < dk; ++i) {
    const __m512 ki = _mm512_set1_ps(k[i]);
    float* row = state.row(i);
    for (int j = 0; j < Vectors; ++j) access.store(row, j, _mm512_fmadd_ps(ki, sk[j], _mm512_mul_ps(decay_v, access.load(row, j))));
  }
}

using step_function = void (*)(rows_of<float>, std::size_t, std::size_t, const float*, const float*, const float*, float, float, float*);

template <int Vectors>
inline step_function recurrent_step_with(std::size_t columns) noexcept {
  return columns % 16 == 0 ? recurrent_step<Vectors, false> : recurrent_step<Vectors, true>;
}

inline step_function recurrent_step_for(std::size_t columns) noexcept {
  switch ((columns + 15) / 16) {
    case 1: return recurrent_step_with<1>(columns);
    case 2: return recurrent_step_with<2>(columns);
    case 3: return recurrent_step_with<3>(columns);
    case 4: return recurrent_step_with<4>(columns);
    case 5: return recurrent_step_with<5>(columns);
    case 6: return recurrent_step_with<6>(columns);
    case 7: return recurrent_step_with<7>(columns);
    default: return recurrent_step_with<8>(columns);
  }
}

}  // namespace deltanet_detail

inline void deltanet_recurrent(thread_pool& pool, const deltanet_args& a) {
  using namespace deltanet_detail;
  const std::size_t tokens = a.v.extent(0), heads = a.v.extent(1), dv = a.v.extent(2);
  const std::size_t dk = a.k.extent(2);
  const std::size_t blocks = (dv + column_block - 1) / column_block;
  pool.parallel_for(0, heads * blocks, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t task = begin; task < end; ++task) {
      const std::size_t h = task / blocks, c0 = task % blocks * column_block, kh = a.key_head(h);
      const std::size_t columns = std::min(column_block, dv - c0);
      const step_function step = recurrent_step_for(columns);
      const rows_of<float> state{&a.state(h, 0, 0) + c0, a.state.stride(1)};
      for (std::size_t t = 0; t < tokens; ++t) {
        step(state, dk, columns, &a.q(t, kh, 0), &a.k(t, kh, 0), &a.v(t, h, c0), std::exp(a.log_decay(t, h)), a.beta(t, h),
             &a.out(t, h, c0));
      }
    }
  });
}

// Workspace a chunked call needs per value head, in floats.
[[nodiscard]] constexpr std::size_t deltanet_chunk_workspace_floats(std::size_t chunk, std::size_t dk, std::size_t dv) noexcept {
  const auto padded = [](std::size_t n) { return (n + 15) / 16 * 16; };
  return padded(chunk) + dk * padded(chunk) + 2 * chunk * padded(chunk) + chunk * padded(dv);
}

// `workspace` holds heads · deltanet_chunk_workspace_floats(chunk, dk, dv) floats.
inline void deltanet_chunked(thread_pool& pool, const deltanet_args& a, std::size_t chunk, float* workspace) {
  using namespace deltanet_detail;
  const std::size_t tokens = a.v.extent(0), heads = a.v.extent(1), dv = a.v.extent(2);
  const std::size_t dk = a.k.extent(2);
  chunk = std::max<std::size_t>(chunk, 1);
  const std::size_t cs = (chunk + 15) / 16 * 16, ws = (dv + 15) / 16 * 16;
  const std::size_t per_head = deltanet_chunk_workspace_floats(chunk, dk, dv);
  pool.parallel_for(0, heads, 1, [&](std::size_t begin, std::size_t end) {
    for (std::size_t h = begin; h < end; ++h) {
      const std::size_t kh = a.key_head(h);
      float* gamma = workspace + h * per_head;
      const rows_of<float> keys_t{gamma + cs, cs};               // [dk][n]: keys of the chunk, transposed
      const rows_of<float> kk{keys_t.data + dk * cs, cs};        // [n][n]: substitution coefficients
      const rows_of<float> qk{kk.data + chunk * cs, cs};         // [n][n]: decayed causal scores
      const rows_of<float> w{qk.data + chunk * cs, ws};          // [n][dv]: written values
      const rows_of<float> state{&a.state(h, 0, 0), a.state.stride(1)};
      for (std::size_t c0 = 0; c0 < tokens; c0 += chunk) {
        const std::size_t n = std::min(chunk, tokens - c0);
        const rows_of<const float> q{&a.q(c0, kh, 0), a.q.stride(0)};
        const rows_of<const float> k{&a.k(c0, kh, 0), a.k.stride(0)};
        const rows_of<float> out{&a.out(c0, h, 0), a.out.stride(0)};
        float running = 0;
        for (std::size_t i = 0; i < n; ++i) gamma[i] = (running += a.log_decay(c0 + i, h));
        for (std::size_t i = 0; i < n; ++i) {
          for (std::size_t d = 0; d < dk; ++d) keys_t.row(d)[i] = k.row(i)[d];
        }
        const rows_of<const float> keys_t_in{keys_t.data, keys_t.stride};
        product(k, keys_t_in, kk, n, dk, n, false);
        product(q, keys_t_in, qk, n, dk, n, false);
        for (std::size_t i = 0; i < n; ++i) {
          const float b = a.beta(c0 + i, h);
          for (std::size_t p = 0; p < i; ++p) {
            const float decay = std::exp(gamma[i] - gamma[p]);
            kk.row(i)[p] *= b * decay;
            qk.row(i)[p] *= decay;
          }
          std::fill(qk.row(i) + i + 1, qk.row(i) + n, 0.0f);
        }
        // W = β (v − e^Γ K S0), then forward substitution W_i −= Σ_{p<i} kk_ip W_p.
        const rows_of<const float> s0{state.data, state.stride};
        product(k, s0, w, n, dk, dv, false);
        for (std::size_t i = 0; i < n; ++i) {
          const float b = a.beta(c0 + i, h), from_state = std::exp(gamma[i]);
          const float* v = &a.v(c0 + i, h, 0);
          float* wi = w.row(i);
          for (std::size_t j = 0; j < dv; ++j) wi[j] = b * (v[j] - from_state * wi[j]);
          for (std::size_t j = 0; j < dv; j += 16) {
            const __mmask16 m = simd::tail_mask16(dv - j);
            __m512 acc = _mm512_maskz_loadu_ps(m, wi + j);
            for (std::size_t p = 0; p < i; ++p) {
              acc = _mm512_fnmadd_ps(_mm512_set1_ps(kk.row(i)[p]), _mm512_maskz_loadu_ps(m, w.row(p) + j), acc);
            }
            _mm512_mask_storeu_ps(wi + j, m, acc);
          }
        }
        // O = e^Γ Q S0 + causal(qk) W.
        product(q, s0, out, n, dk, dv, false);
        for (std::size_t i = 0; i < n; ++i) {
          const float from_state = std::exp(gamma[i]);
          for (std::size_t j = 0; j < dv; ++j) out.row(i)[j] *= from_state;
        }
        const rows_of<const float> w_in{w.data, w.stride};
        product({qk.data, qk.stride}, w_in, out, n, n, dv, true, true);
        // S = e^{Γ_n} S0 + Σ_p e^{Γ_n − Γ_p} k_p W_pᵀ.
        const float last = gamma[n - 1];
        for (std::size_t p = 0; p < n; ++p) {
          const float decay = std::exp(last - gamma[p]);
          for (std::size_t d = 0; d < dk; ++d) keys_t.row(d)[p] *= decay;
        }
        const float carried = std::exp(last);
        for (std::size_t d = 0; d < dk; ++d) {
          for (std::size_t j = 0; j < dv; ++j) state.row(d)[j] *= carried;
        }
        product(keys_t_in, w_in, state, dk, n, dv, true);
      }
    }
  });
}

}  // namespace strix::zen5_kernels
