// moe_block<Device>: a mixture-of-experts FFN: the router, grouped expert dispatch and an optional
// shared expert whose output is added, optionally scaled by sigmoid(w · x) (Qwen3.5-MoE). The
// router and the experts may read different inputs (Gemma 4 routes the residual stream and feeds
// the experts its separately normalised copy); a dense MLP beside the experts (Gemma 4) is a
// gated_ffn the model runs and adds with its own norms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/concepts.hpp>
#include <strix/moe/expert_dispatch.hpp>
#include <strix/moe/gated_ffn.hpp>
#include <strix/moe/router.hpp>
#include <strix/quant/weight_matrix.hpp>

namespace strix {

struct shared_expert_weights {
  gated_ffn_weights ffn;
  std::optional<weight_matrix> gate;  // [1][hidden]: the shared output is scaled by sigmoid(gate · x)
};

template <device_policy Device>
class moe_block {
 public:
  moe_block(router_config routing, router_weights router_w, expert_stack experts, activation act,
            std::optional<shared_expert_weights> shared = std::nullopt)
      : router_(routing, router_w), dispatch_(std::move(experts), act), act_(act), shared_(std::move(shared)) {
    const expert_stack& stack = dispatch_.stack();
    auto fail = [](const std::string& what) { throw error(error_category::shape, "moe block: " + what); };
    if (stack.experts != routing.experts) fail("the router knows " + std::to_string(routing.experts) + " experts, the stack has " +
                                               std::to_string(stack.experts));
    if (router_.hidden() != stack.hidden()) fail("router and experts disagree on the hidden size");
    if (shared_) {
      shared_->ffn.validate("moe block shared expert");
      if (shared_->ffn.hidden() != stack.hidden()) fail("the shared expert's hidden size differs from the experts'");
      if (shared_->gate && (shared_->gate->rows() != 1 || shared_->gate->row_length() != stack.hidden())) {
        fail("the shared expert gate must be [1][hidden]");
      }
    }
  }

  [[nodiscard]] std::size_t hidden() const noexcept { return dispatch_.stack().hidden(); }
  [[nodiscard]] std::size_t top_k() const noexcept { return router_.config().top_k; }

  // out[T][hidden] = Σ routed experts of expert_input (+ shared expert), routing router_input.
  void forward(Device& dev, matrix_view<const float> router_input, matrix_view<const float> expert_input, matrix_view<float> out,
               moe_statistics* stats = nullptr) {
    const std::size_t tokens = router_input.extent(0), k = top_k(), h = hidden();
    if (expert_input.extent(0) != tokens || !out.is_contiguous() || out.extent(0) != tokens || out.extent(1) != h) {
      throw error(error_category::shape, "moe block: inputs and out must have the same tokens, out contiguous [tokens][hidden]");
    }
    experts_.resize(tokens * k);
    weights_.resize(tokens * k);
    const routing routes{{experts_.data(), {tokens, k}}, {weights_.data(), {tokens, k}}};
    router_.route(dev, router_input, routes);
    dispatch_.forward(dev, expert_input, routes, out, stats);
    if (!shared_) return;
    shared_out_.resize(tokens * h);
    const matrix_view<float> shared_out(shared_out_.data(), {tokens, h});
    gated_ffn_forward(dev, shared_->ffn, act_, expert_input, shared_out, shared_scratch_);
    if (shared_->gate) {
      gate_.resize(tokens);
      const matrix_view<float> gate(gate_.data(), {tokens, 1});
      multiply(dev, *shared_->gate, expert_input, gate);
      dev.apply_activation(activation::sigmoid, gate.span(), gate.span());
      dev.host_access(gate.span());  // each token's gate is read on the host
      for (std::size_t t = 0; t < tokens; ++t) dev.scale(shared_out.row(t).span(), gate_[t]);
    }
    dev.add(out.span(), shared_out.span(), out.span());
  }
  void forward(Device& dev, matrix_view<const float> x, matrix_view<float> out, moe_statistics* stats = nullptr) {
    forward(dev, x, x, out, stats);
  }

  // The routing of the last batch, [T][top_k] (for analysis and tests).
  [[nodiscard]] const_routing last_routing() const {
    const std::size_t tokens = experts_.size() / top_k();
    return {{experts_.data(), {tokens, top_k()}}, {weights_.data(), {tokens, top_k()}}};
  }
  [[nodiscard]] std::span<const std::uint32_t> last_counts() const noexcept { return dispatch_.last_counts(); }

 private:
  router<Device> router_;
  expert_dispatch<Device> dispatch_;
  activation act_;
  std::optional<shared_expert_weights> shared_;
  std::vector<std::int32_t> experts_;
  std::vector<float> weights_, shared_out_, gate_;
  gated_ffn_scratch shared_scratch_;
};

}  // namespace strix
