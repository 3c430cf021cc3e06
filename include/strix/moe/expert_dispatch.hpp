// expert_dispatch<Device>: grouped dispatch of routed tokens through a stack of expert FFNs. From
// the routing of T tokens it builds each expert's token list (a counting sort by expert, tokens in
// order), gathers those rows into one contiguous tile sorted by expert, multiplies each expert's
// rows of it by that expert's weights (so each expert's weights are streamed once per batch,
// whatever T) — for stacked experts one grouped matmul each for gate, up and down over all experts
// at once — and adds the routing-weighted results back to their tokens. Decode (T = 1) and prefill
// take the same path.
//
// Expert weights are the 3-D tensors files store (GGUF `ffn_{gate,up,gate_up,down}_exps`,
// transformers' `gate_up_proj` / `down_proj`), viewed as matrices of experts × rows: expert e's
// slice is a row range of the same mapping, never a copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/concepts.hpp>
#include <strix/moe/gated_ffn.hpp>
#include <strix/moe/router.hpp>
#include <strix/quant/weight_matrix.hpp>

namespace strix {

// A stack of expert FFNs: gate and up either fused (per expert 2 · intermediate rows, gate first)
// or separate (per expert intermediate rows each); down per expert `hidden` rows. Checkpoints that
// store each expert as its own tensors (transformers' per-expert layout) give `listed` instead.
struct expert_stack {
  std::size_t experts = 0;
  std::optional<weight_matrix> gate_up;
  std::optional<weight_matrix> gate, up;
  weight_matrix down;
  std::vector<gated_ffn_weights> listed;  // one per expert, when not stacked

  [[nodiscard]] std::size_t hidden() const noexcept {
    if (!listed.empty()) return listed.front().hidden();
    return experts == 0 ? 0 : down.rows() / experts;
  }
  [[nodiscard]] std::size_t intermediate() const noexcept { return listed.empty() ? down.row_length() : listed.front().intermediate(); }

  [[nodiscard]] gated_ffn_weights expert(std::size_t e) const {
    if (!listed.empty()) return listed[e];
    const std::size_t h = hidden(), i = intermediate();
    const weight_matrix down_e = down.rows_between(e * h, (e + 1) * h);
    if (gate_up) return gated_ffn_weights::from_fused(gate_up->rows_between(e * 2 * i, (e + 1) * 2 * i), down_e);
    return {gate->rows_between(e * i, (e + 1) * i), up->rows_between(e * i, (e + 1) * i), down_e};
  }

  void validate() const {
    auto fail = [](const std::string& what) { throw error(error_category::shape, "expert stack: " + what); };
    if (!listed.empty()) {
      if (listed.size() != experts) fail(std::to_string(listed.size()) + " listed experts for " + std::to_string(experts));
      for (std::size_t e = 0; e < experts; ++e) {
        listed[e].validate("expert " + std::to_string(e));
        if (listed[e].hidden() != hidden() || listed[e].intermediate() != intermediate()) fail("listed experts differ in shape");
      }
      return;
    }
    if (experts == 0 || down.rows() % experts != 0) fail("down's rows must be experts × hidden");
    if (gate_up.has_value() == (gate.has_value() || up.has_value()) || gate.has_value() != up.has_value()) {
      fail("give either gate_up or both gate and up");
    }
    const std::size_t per_expert = gate_up ? 2 * intermediate() : intermediate();
    for (const weight_matrix* m : {gate_up ? &*gate_up : &*gate, gate_up ? &*gate_up : &*up}) {
      if (m->rows() != experts * per_expert || m->row_length() != hidden()) {
        fail("gate/up must be [" + std::to_string(experts) + " × " + std::to_string(per_expert) + "][" + std::to_string(hidden()) +
             "], got [" + std::to_string(m->rows()) + "][" + std::to_string(m->row_length()) + "]");
      }
    }
  }
};

// Running counts of routed tokens per expert, for load analysis: add() per batch.
struct moe_statistics {
  std::vector<std::uint64_t> tokens_per_expert;
  std::uint64_t batches = 0;
  std::uint64_t tokens = 0;

  void add(std::span<const std::uint32_t> batch_counts, std::size_t batch_tokens) {
    if (tokens_per_expert.size() < batch_counts.size()) tokens_per_expert.resize(batch_counts.size());
    for (std::size_t e = 0; e < batch_counts.size(); ++e) tokens_per_expert[e] += batch_counts[e];
    ++batches;
    tokens += batch_tokens;
  }
};

// Fewest routed rows expert_dispatch's pass over stacked experts takes: a decode step's or a
// speculative verify's T · k rows go in one pass (see forward_stacked).
inline constexpr std::size_t expert_pass_min_rows = 64;

template <device_policy Device>
class expert_dispatch {
 public:
  expert_dispatch(expert_stack stack, activation act) : stack_(std::move(stack)), act_(act) {
    stack_.validate();
    counts_.resize(stack_.experts);
  }

  [[nodiscard]] const expert_stack& stack() const noexcept { return stack_; }

  // out[t] = Σ_j routes.weights[t][j] · expert_{routes.experts[t][j]}(x[t]); x and out [T][hidden].
  void forward(Device& dev, matrix_view<const float> x, const_routing routes, matrix_view<float> out, moe_statistics* stats = nullptr) {
    const std::size_t tokens = x.extent(0), k = routes.experts.extent(1), hidden = stack_.hidden();
    if (x.extent(1) != hidden || out.extent(0) != tokens || out.extent(1) != hidden || routes.experts.extent(0) != tokens ||
        routes.weights.extent(0) != tokens || routes.weights.extent(1) != k) {
      throw error(error_category::shape, "expert dispatch: x and out must be [tokens][" + std::to_string(hidden) +
                                             "], the routing [tokens][k]");
    }
    sort_by_expert(routes);
    dev.host_access(out.footprint());
    for (std::size_t t = 0; t < tokens; ++t) std::fill_n(&out(t, 0), hidden, 0.0f);
    if (stack_.listed.empty()) {
      forward_stacked(dev, x, out);
    } else {
      forward_listed(dev, x, out);
    }
    if (stats != nullptr) stats->add(counts_, tokens);
  }

  // Tokens each expert received in the last batch.
  [[nodiscard]] std::span<const std::uint32_t> last_counts() const noexcept { return counts_; }

 private:
  // Stacked experts: the routed rows, sorted by expert, in passes of max(T, expert_pass_min_rows) rows;
  // per pass one gather into a tile, one grouped matmul each for gate, up and down over every
  // expert the pass holds, one scatter back. Decode (8 routed rows) is one pass of six policy
  // calls, however many experts are hit; a prefill chunk takes k passes, so the tiles stay the
  // size of the chunk rather than k times it (memory_plan's moe_scratch_bound).
  void forward_stacked(Device& dev, matrix_view<const float> x, matrix_view<float> out) {
    const std::size_t rows = token_of_.size(), hidden = stack_.hidden(), width = stack_.intermediate();
    const std::size_t pass_rows = std::max(x.extent(0), expert_pass_min_rows);
    const std::size_t tile_rows = std::min(rows, pass_rows);
    grow_scratch(dev, tile_in_, tile_rows * hidden);
    grow_scratch(dev, tile_out_, tile_rows * hidden);
    grow_scratch(dev, ffn_scratch_.gate, tile_rows * width);
    grow_scratch(dev, ffn_scratch_.up, tile_rows * width);
    // A fused stack holds per expert its gate rows, then its up rows.
    const bool fused = stack_.gate_up.has_value();
    const std::size_t gate_up_stride = fused ? 2 * width : width;
    for (std::size_t begin = 0; begin < rows; begin += pass_rows) {
      const std::size_t n = std::min(pass_rows, rows - begin);
      const matrix_view<float> tile_in(tile_in_.data(), {n, hidden}), tile_out(tile_out_.data(), {n, hidden});
      const matrix_view<float> gate(ffn_scratch_.gate.data(), {n, width}), up(ffn_scratch_.up.data(), {n, width});
      const std::span<const std::int32_t> order(token_of_.data() + begin, n);
      dev.gather_rows(x, order, tile_in);
      multiply_grouped(dev, fused ? *stack_.gate_up : *stack_.gate, groups_of(gate_up_stride, 0, begin, n), tile_in, gate);
      multiply_grouped(dev, fused ? *stack_.gate_up : *stack_.up, groups_of(gate_up_stride, fused ? width : 0, begin, n), tile_in, up);
      dev.gated_activation(act_, gate.span(), std::span<const float>(up.span()), up.span());
      multiply_grouped(dev, stack_.down, groups_of(hidden, 0, begin, n), matrix_view<const float>(up), tile_out);
      dev.scatter_add_rows(tile_out, order, std::span<const float>(weight_of_.data() + begin, n), out);
    }
  }

  // Experts stored as separate tensors: each routed expert's rows through its own gated FFN.
  void forward_listed(Device& dev, matrix_view<const float> x, matrix_view<float> out) {
    const std::size_t hidden = stack_.hidden();
    std::size_t largest = 0;
    for (std::uint32_t c : counts_) largest = std::max<std::size_t>(largest, c);
    grow_scratch(dev, tile_in_, largest * hidden);
    grow_scratch(dev, tile_out_, largest * hidden);
    for (std::size_t e = 0, begin = 0; e < stack_.experts; begin += counts_[e++]) {
      const std::size_t n = counts_[e];
      if (n == 0) continue;
      const std::span<const std::int32_t> rows(token_of_.data() + begin, n);
      const matrix_view<float> tile_in(tile_in_.data(), {n, hidden}), tile_out(tile_out_.data(), {n, hidden});
      dev.gather_rows(x, rows, tile_in);
      gated_ffn_forward(dev, stack_.listed[e], act_, tile_in, tile_out, ffn_scratch_);
      dev.scatter_add_rows(tile_out, rows, std::span<const float>(weight_of_.data() + begin, n), out);
    }
  }

  // Each expert's share of sorted rows [begin, begin + n) and its slice of a stack with `stride`
  // rows per expert, starting `offset` rows into it.
  std::span<const matmul_group> groups_of(std::size_t stride, std::size_t offset, std::size_t begin, std::size_t n) {
    groups_.resize(stack_.experts);
    for (std::size_t e = 0, first = 0; e < stack_.experts; first += counts_[e++]) {
      const std::size_t from = std::max(first, begin), to = std::min<std::size_t>(first + counts_[e], begin + n);
      groups_[e] = {e * stride + offset, to > from ? to - from : 0};
    }
    return groups_;
  }

  // Counting sort of the (token, weight) pairs by expert, tokens ascending within an expert.
  void sort_by_expert(const_routing routes) {
    const std::size_t tokens = routes.experts.extent(0), k = routes.experts.extent(1);
    std::fill(counts_.begin(), counts_.end(), 0u);
    for (std::size_t t = 0; t < tokens; ++t) {
      for (std::size_t j = 0; j < k; ++j) {
        const std::int32_t e = routes.experts(t, j);
        if (e < 0 || static_cast<std::size_t>(e) >= stack_.experts) {
          throw error(error_category::shape, "expert dispatch: token " + std::to_string(t) + " is routed to expert " + std::to_string(e) +
                                                 " of " + std::to_string(stack_.experts));
        }
        ++counts_[static_cast<std::size_t>(e)];
      }
    }
    next_.assign(stack_.experts, 0);
    for (std::size_t e = 1; e < stack_.experts; ++e) next_[e] = next_[e - 1] + counts_[e - 1];
    token_of_.resize(tokens * k);
    weight_of_.resize(tokens * k);
    for (std::size_t t = 0; t < tokens; ++t) {
      for (std::size_t j = 0; j < k; ++j) {
        const auto e = static_cast<std::size_t>(routes.experts(t, j));
        token_of_[next_[e]] = static_cast<std::int32_t>(t);
        weight_of_[next_[e]++] = routes.weights(t, j);
      }
    }
  }

  expert_stack stack_;
  activation act_;
  std::vector<std::uint32_t> counts_;
  std::vector<std::size_t> next_;
  std::vector<std::int32_t> token_of_;
  std::vector<float> weight_of_, tile_in_, tile_out_;
  std::vector<matmul_group> groups_;
  gated_ffn_scratch ffn_scratch_;
};

}  // namespace strix
