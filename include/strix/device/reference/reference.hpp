// The reference device policy: scalar C++ on the calling thread, obviously correct, the oracle
// every fast kernel is tested against. Stateless.
#pragma once

#include <string_view>

#include <strix/core/buffer.hpp>
#include <strix/device/concepts.hpp>
#include <strix/device/results_in_host_memory.hpp>
#include <strix/device/reference/attention.hpp>
#include <strix/device/reference/deltanet.hpp>
#include <strix/device/reference/kv_write.hpp>
#include <strix/device/reference/matmul.hpp>
#include <strix/device/reference/pointwise.hpp>
#include <strix/device/reference/selection.hpp>

namespace strix {

class reference : public results_in_host_memory {
 public:
  using memory_space = host_memory;
  static constexpr std::string_view name = "reference";

  // The reference kernels need no workspace.
  void plan(const kernel_limits&) noexcept {}

  template <block_format Format>
  void matmul(const quantized_view<Format>& w, matrix_view<const float> x, matrix_view<float> y) {
    reference_kernels::matmul(w, x, y);
  }
  template <block_format Format>
  void grouped_matmul(const quantized_view<Format>& w, std::span<const matmul_group> groups, matrix_view<const float> x,
                      matrix_view<float> y) {
    reference_kernels::grouped_matmul(w, groups, x, y);
  }
  template <block_format Format>
  void embedding(const quantized_view<Format>& table, std::span<const std::int32_t> tokens, float scale, matrix_view<float> out) {
    reference_kernels::embedding(table, tokens, scale, out);
  }
  void rmsnorm(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, matrix_view<float> y) {
    reference_kernels::rmsnorm(x, weight, kind, eps, y);
  }
  void rmsnorm_add(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, float scale,
                   matrix_view<float> residual) {
    reference_kernels::check_rmsnorm_add_shapes(x, weight, kind, residual);
    reference_kernels::rmsnorm_add(x, weight, kind, eps, scale, residual);
  }
  void rope(tensor_view<float, 3> x, std::span<const std::int32_t> positions, rope_frequencies freq) {
    reference_kernels::rope(x, positions, freq);
  }
  void apply_activation(activation act, std::span<const float> x, std::span<float> y) {
    reference_kernels::apply_activation(act, x, y);
  }
  void gated_activation(activation act, std::span<const float> gate, std::span<const float> up, std::span<float> out) {
    reference_kernels::gated_activation(act, gate, up, out);
  }
  void softcap(std::span<float> x, float cap) { reference_kernels::softcap(x, cap); }
  void gather_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, matrix_view<float> out) {
    reference_kernels::gather_rows(x, rows, out);
  }
  void scatter_add_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, std::span<const float> weights,
                        matrix_view<float> out) {
    reference_kernels::scatter_add_rows(x, rows, weights, out);
  }
  void softmax(matrix_view<float> rows, float cap) { reference_kernels::softmax(rows, cap); }
  std::size_t argmax(std::span<const float> x) { return reference_kernels::argmax(x); }
  void top_k(matrix_view<const float> x, matrix_view<std::int32_t> indices, matrix_view<float> values) {
    reference_kernels::check_top_k_shapes(x, indices, values, "top_k");
    reference_kernels::top_k_rows(x, indices, values);
  }
  void add(std::span<const float> a, std::span<const float> b, std::span<float> out) { reference_kernels::add(a, b, out); }
  void scale(std::span<float> x, float factor) { reference_kernels::scale(x, factor); }
  void copy(matrix_view<const float> in, matrix_view<float> out) { reference_kernels::copy(in, out); }
  void write_kv(const kv_write_args& args) { reference_kernels::write_kv(args); }
  template <attention_window Window>
  void attention(const attention_args& args) {
    reference_kernels::attention<Window>(args);
  }
  // Gated DeltaNet: one sequence, token by token (decode) or in chunks of `chunk` tokens (prefill).
  void deltanet_recurrent(const deltanet_args& args) { reference_kernels::deltanet_recurrent(args); }
  void deltanet_chunked(const deltanet_args& args, std::size_t chunk) { reference_kernels::deltanet_chunked(args, chunk); }
};

static_assert(device_policy<reference>);

}  // namespace strix
