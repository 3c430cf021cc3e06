// Reference attention over a paged KV cache: for each query row and head, every visible key row
// dequantized, all scores at once, a max-subtracted softmax in fp64, then the weighted sum of value
// rows. Two passes and no tiling, so it is the plain definition the tiled kernels are checked against.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include <strix/device/attention_params.hpp>
#include <strix/quant/quantized_view.hpp>

namespace strix::reference_kernels {

template <attention_window Window>
void attention(const attention_args& args) {
  const kv_layer_view& kv = args.kv;
  const std::size_t heads = args.q.extent(1);
  const std::size_t dim = kv.head_dim;
  const std::size_t group = heads / kv.kv_heads;
  visit_kv_type(kv.type, [&]<class Format>() {
    using block = typename Format::block_type;
    const std::size_t row_blocks = dim / Format::block_size;
    auto dequantize = [&](const std::byte* row, std::vector<float>& out) {
      dequantize_row<Format>(std::span(reinterpret_cast<const block*>(row), row_blocks), out);
    };
    std::vector<float> key(dim), value(dim);
    std::vector<double> scores, acc(dim);
    for (const attention_sequence& seq : args.sequences) {
      for (std::size_t i = 0; i < seq.rows; ++i) {
        const std::size_t row = seq.first_row + i;
        const std::size_t position = seq.kv.length - seq.rows + i;
        const std::size_t first = first_visible_key<Window>(position);
        for (std::size_t h = 0; h < heads; ++h) {
          const std::size_t kv_head = h / group;
          auto slot = [&](std::size_t p, bool values) {
            const kv_block_id b = seq.kv.blocks[p / kv.block_size];
            return (values ? kv.v_rows(b, kv_head) : kv.k_rows(b, kv_head)) + (p % kv.block_size) * kv.row_bytes;
          };
          scores.assign(position + 1 - first, 0.0);
          double max = -INFINITY;
          for (std::size_t p = first; p <= position; ++p) {
            dequantize(slot(p, false), key);
            double dot = 0.0;
            for (std::size_t d = 0; d < dim; ++d) dot += static_cast<double>(args.q(row, h, d)) * key[d];
            double s = dot * args.scale;
            if (args.softcap != 0.0f) s = args.softcap * std::tanh(s / args.softcap);
            scores[p - first] = s;
            max = std::max(max, s);
          }
          double sum = 0.0;
          for (double& s : scores) sum += (s = std::exp(s - max));
          std::fill(acc.begin(), acc.end(), 0.0);
          for (std::size_t p = first; p <= position; ++p) {
            dequantize(slot(p, true), value);
            const double w = scores[p - first] / sum;
            for (std::size_t d = 0; d < dim; ++d) acc[d] += w * value[d];
          }
          for (std::size_t d = 0; d < dim; ++d) args.out(row, h, d) = static_cast<float>(acc[d]);
        }
      }
    }
  });
}

}  // namespace strix::reference_kernels
