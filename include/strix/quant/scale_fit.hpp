// Least-squares scale search used by the quantizers that ggml does not pin bit for bit (K-quants,
// IQ4, MXFP4). Each searches a small set of candidate scales, assigns the nearest code to every
// value, refits the scale (and offset) in closed form, and keeps the candidate with the smallest
// squared error. Unweighted: the target is the plain RMSE the fixtures measure.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include <strix/quant/block_format.hpp>

namespace strix::detail {

// The element of largest magnitude, with its sign (the first on ties).
inline float signed_absmax(const float* x, std::size_t n) noexcept {
  float amax = 0.0f;
  float pivot = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      pivot = x[i];
    }
  }
  return pivot;
}

// x ≈ d·q with integer q in [qmin, qmax]; returns d (signed) and writes q.
inline float fit_symmetric(const float* x, std::size_t n, int qmin, int qmax, std::int8_t* q) noexcept {
  const float pivot = signed_absmax(x, n);
  if (pivot == 0.0f) {
    std::fill(q, q + n, std::int8_t{0});
    return 0.0f;
  }
  float best_score = -1.0f;
  float best_d = 0.0f;
  std::int8_t trial[256];
  // Map the pivot near either end of the code range, a little inside or outside it.
  for (const int end : {qmin, qmax}) {
    for (int step = -10; step <= 20; ++step) {
      const float target = static_cast<float>(end) + (end < 0 ? -0.1f : 0.1f) * static_cast<float>(step);
      if (target == 0.0f || (end > 0 && target < 0.5f) || (end < 0 && target > -0.5f)) continue;
      const float iscale = target / pivot;
      double sum_xq = 0.0;
      double sum_qq = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        const int v = std::clamp(nearest_int(x[i] * iscale), qmin, qmax);
        trial[i] = static_cast<std::int8_t>(v);
        sum_xq += static_cast<double>(x[i]) * v;
        sum_qq += static_cast<double>(v) * v;
      }
      if (sum_qq == 0.0) continue;
      const auto score = static_cast<float>(sum_xq * sum_xq / sum_qq);  // error = Σx² − score
      if (score > best_score) {
        best_score = score;
        best_d = static_cast<float>(sum_xq / sum_qq);
        std::copy(trial, trial + n, q);
      }
    }
  }
  return best_d;
}

// x ≈ d·q − m with q in [0, qmax], d ≥ 0, m ≥ 0 (the K-quants store the negated minimum).
struct scale_and_min {
  float d;
  float m;
};
inline scale_and_min fit_with_min(const float* x, std::size_t n, int qmax, std::uint8_t* q) noexcept {
  float lo = 0.0f;
  float hi = -INFINITY;
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (hi <= lo) {  // all values equal and ≤ 0
    std::fill(q, q + n, std::uint8_t{0});
    return {0.0f, -lo};
  }
  scale_and_min best{(hi - lo) / static_cast<float>(qmax), -lo};
  double best_error = INFINITY;
  std::uint8_t trial[256];
  for (int step = -10; step <= 20; ++step) {
    const float iscale = (static_cast<float>(qmax) + 0.1f * static_cast<float>(step)) / (hi - lo);
    double n_sum = 0, sq = 0, sqq = 0, sx = 0, sxq = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const int v = std::clamp(nearest_int((x[i] - lo) * iscale), 0, qmax);
      trial[i] = static_cast<std::uint8_t>(v);
      n_sum += 1;
      sq += v;
      sqq += static_cast<double>(v) * v;
      sx += x[i];
      sxq += static_cast<double>(x[i]) * v;
    }
    const double det = n_sum * sqq - sq * sq;
    if (det <= 0.0) continue;
    double d = (n_sum * sxq - sq * sx) / det;
    double b = (sqq * sx - sq * sxq) / det;
    if (b > 0.0) {  // the offset must be ≤ 0: refit the scale alone
      b = 0.0;
      d = sxq / sqq;
    }
    if (d <= 0.0) continue;
    double err = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double r = x[i] - (d * trial[i] + b);
      err += r * r;
    }
    if (err < best_error) {
      best_error = err;
      best = {static_cast<float>(d), static_cast<float>(-b)};
      std::copy(trial, trial + n, q);
    }
  }
  if (best_error == INFINITY) {
    for (std::size_t i = 0; i < n; ++i) {
      q[i] = static_cast<std::uint8_t>(std::clamp(nearest_int((x[i] + best.m) / best.d), 0, qmax));
    }
  }
  return best;
}

// Index of the entry of an ascending table nearest to v.
inline int nearest_index(std::span<const float> table, float v) noexcept {
  const auto it = std::lower_bound(table.begin(), table.end(), v);
  if (it == table.begin()) return 0;
  if (it == table.end()) return static_cast<int>(table.size()) - 1;
  const auto i = static_cast<int>(it - table.begin());
  return (v - table[static_cast<std::size_t>(i - 1)] <= table[static_cast<std::size_t>(i)] - v) ? i - 1 : i;
}

// x ≈ d·table[idx] for an ascending non-uniform code table; returns d and writes the indices.
inline float fit_table(const float* x, std::size_t n, std::span<const float> table, std::uint8_t* idx) noexcept {
  const float pivot = signed_absmax(x, n);
  if (pivot == 0.0f) {
    const int zero = nearest_index(table, 0.0f);
    std::fill(idx, idx + n, static_cast<std::uint8_t>(zero));
    return 0.0f;
  }
  float best_score = -1.0f;
  float best_d = 0.0f;
  std::uint8_t trial[256];
  auto try_scale = [&](float iscale) {
    double sum_xt = 0.0;
    double sum_tt = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const int k = nearest_index(table, x[i] * iscale);
      trial[i] = static_cast<std::uint8_t>(k);
      sum_xt += static_cast<double>(x[i]) * table[static_cast<std::size_t>(k)];
      sum_tt += static_cast<double>(table[static_cast<std::size_t>(k)]) * table[static_cast<std::size_t>(k)];
    }
    if (sum_tt == 0.0) return;
    const auto score = static_cast<float>(sum_xt * sum_xt / sum_tt);
    if (score > best_score) {
      best_score = score;
      best_d = static_cast<float>(sum_xt / sum_tt);
      std::copy(trial, trial + n, idx);
    }
  };
  // Map the pivot near either end of the table, a little inside or outside it.
  const float unit = (table.back() - table.front()) / 120.0f;
  for (int step = -12; step <= 12; ++step) {
    try_scale((table.front() - static_cast<float>(step) * unit) / pivot);
    try_scale((table.back() + static_cast<float>(step) * unit) / pivot);
  }
  // One refinement: reassign codes for the fitted scale and refit.
  if (best_d != 0.0f) try_scale(1.0f / best_d);
  return best_d;
}

}  // namespace strix::detail
