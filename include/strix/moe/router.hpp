// router<Device>: top-k expert routing of a batch of tokens. Optionally RMS-normalises the input
// with a weight vector and a scalar (Gemma 4: rms(x) · scale · hidden^-0.5), projects to one logit
// per expert, scores by softmax (fp32, over all experts) or sigmoid, keeps the k best per token
// (ties to the lower expert index, deterministic), optionally renormalises the k weights to sum 1,
// and multiplies each by a per-expert scale if given (Gemma 4). k and the expert count are runtime
// values; selection is one pass over the scores per token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/concepts.hpp>
#include <strix/quant/weight_matrix.hpp>

namespace strix {

enum class router_scoring { softmax, sigmoid };

struct router_config {
  std::size_t experts = 0;
  std::size_t top_k = 0;
  router_scoring scoring = router_scoring::softmax;
  bool renormalize = true;  // the k weights of a token sum to 1
  float norm_eps = 1e-6f;   // of the optional input norm
};

struct router_weights {
  weight_matrix projection;              // [experts][hidden]
  std::span<const float> input_norm;     // [hidden]: rms(x) · input_norm · input_scale first; empty: x as is
  float input_scale = 1.0f;
  std::span<const float> expert_scale;   // [experts]: multiplies the chosen weights; empty: none
};

// The routing of T tokens: expert ids and weights, [T][top_k], best first.
struct routing {
  matrix_view<std::int32_t> experts;
  matrix_view<float> weights;
};
struct const_routing {
  matrix_view<const std::int32_t> experts;
  matrix_view<const float> weights;
  const_routing(matrix_view<const std::int32_t> e, matrix_view<const float> w) : experts(e), weights(w) {}
  const_routing(const routing& r) : experts(r.experts), weights(r.weights) {}  // NOLINT(google-explicit-constructor)
};

template <device_policy Device>
class router {
 public:
  router(router_config config, router_weights weights) : config_(config), weights_(weights) {
    auto fail = [](const std::string& what) { throw error(error_category::shape, "router: " + what); };
    if (config_.experts == 0 || config_.top_k == 0 || config_.top_k > config_.experts) {
      fail("top_k (" + std::to_string(config_.top_k) + ") must be in 1…experts (" + std::to_string(config_.experts) + ")");
    }
    if (weights_.projection.rows() != config_.experts) {
      fail("the projection has " + std::to_string(weights_.projection.rows()) + " rows for " + std::to_string(config_.experts) +
           " experts");
    }
    const std::size_t hidden = weights_.projection.row_length();
    if (!weights_.input_norm.empty() && weights_.input_norm.size() != hidden) {
      fail("the input norm needs hidden (" + std::to_string(hidden) + ") weights");
    }
    if (!weights_.expert_scale.empty() && weights_.expert_scale.size() != config_.experts) {
      fail("the per-expert scale needs one value per expert (" + std::to_string(config_.experts) + ")");
    }
    for (float w : weights_.input_norm) norm_.push_back(w * weights_.input_scale);
  }

  [[nodiscard]] const router_config& config() const noexcept { return config_; }
  [[nodiscard]] std::size_t hidden() const noexcept { return weights_.projection.row_length(); }

  // x: [T][hidden]; out: [T][top_k] each.
  void route(Device& dev, matrix_view<const float> x, routing out) {
    const std::size_t tokens = x.extent(0), k = config_.top_k, experts = config_.experts;
    if (x.extent(1) != hidden() || out.experts.extent(0) != tokens || out.experts.extent(1) != k || out.weights.extent(0) != tokens ||
        out.weights.extent(1) != k || !out.experts.is_contiguous() || !out.weights.is_contiguous()) {
      throw error(error_category::shape, "router: x must be [tokens][" + std::to_string(hidden()) + "] and the routing [tokens][" +
                                             std::to_string(k) + "], contiguous");
    }
    matrix_view<const float> input = x;
    if (!norm_.empty()) {
      normed_.resize(tokens * hidden());
      const matrix_view<float> normed(normed_.data(), {tokens, hidden()});
      dev.rmsnorm(x, norm_, norm_weight::plain, config_.norm_eps, normed);
      input = normed;
    }
    scores_.resize(tokens * experts);
    const matrix_view<float> scores(scores_.data(), {tokens, experts});
    multiply(dev, weights_.projection, input, scores);
    if (config_.scoring == router_scoring::softmax) {
      dev.softmax(scores, 0.0f);
    } else {
      dev.apply_activation(activation::sigmoid, scores.span(), scores.span());
    }
    dev.top_k(scores, out.experts, out.weights);
    for (std::size_t t = 0; t < tokens; ++t) {
      const std::span<const std::int32_t> ids(&out.experts(t, 0), k);
      const std::span<float> w(&out.weights(t, 0), k);
      if (config_.renormalize) {
        float sum = 0.0f;
        for (float v : w) sum += v;
        for (float& v : w) v /= sum;
      }
      if (!weights_.expert_scale.empty()) {
        for (std::size_t j = 0; j < k; ++j) w[j] *= weights_.expert_scale[static_cast<std::size_t>(ids[j])];
      }
    }
  }

 private:
  router_config config_;
  router_weights weights_;
  std::vector<float> norm_;  // input_norm · input_scale
  std::vector<float> normed_, scores_;
};

}  // namespace strix
