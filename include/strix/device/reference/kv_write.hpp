// Reference write of new K and V rows into a paged KV cache: each row's heads quantized into their
// slots with the KV type's own quantizer (quant/), which the device kernels reproduce bit for bit.
#pragma once

#include <cstddef>
#include <string>

#include <strix/core/error.hpp>
#include <strix/device/paged_kv_view.hpp>
#include <strix/quant/quantized_view.hpp>

namespace strix {

// Throws a shape error naming `what` unless K and V are [rows][kv_heads · head_dim] with one slot
// per row, every slot and listed block lies in the cache (where the view counts its blocks), and
// the listed blocks take every row (a device keeping its own copy of the cache returns exactly
// those blocks to host memory; plan_write lists them).
inline void check_kv_write_shapes(const kv_write_args& args, const char* what) {
  const kv_layer_view& kv = args.kv;
  const std::size_t width = kv.kv_heads * kv.head_dim;
  if (args.k.extent(0) != args.rows.size() || args.v.extent(0) != args.rows.size() || args.k.extent(1) != width ||
      args.v.extent(1) != width || (args.rows.size() > 0 && width > 1 && (args.k.stride(1) != 1 || args.v.stride(1) != 1))) {
    throw error(error_category::shape, std::string(what) + ": K and V must be [" + std::to_string(args.rows.size()) + "][" +
                                           std::to_string(width) + "] rows with contiguous values, one per slot");
  }
  for (const kv_row_slot& target : args.rows) {
    if ((kv.blocks != 0 && target.block >= kv.blocks) || target.slot >= kv.block_size) {
      throw error(error_category::shape, std::string(what) + ": slot " + std::to_string(target.slot) + " of block " +
                                             std::to_string(target.block) + " is outside the cache's " + std::to_string(kv.blocks) +
                                             " blocks of " + std::to_string(kv.block_size) + " positions");
    }
  }
  std::size_t listed = 0;
  for (const kv_block_write& w : args.blocks) {
    if (kv.blocks != 0 && w.block >= kv.blocks) {
      throw error(error_category::shape, std::string(what) + ": written block " + std::to_string(w.block) + " is outside the cache's " +
                                             std::to_string(kv.blocks) + " blocks");
    }
    listed += w.slots;
  }
  if (listed != args.rows.size()) {
    throw error(error_category::shape, std::string(what) + ": the written blocks take " + std::to_string(listed) + " rows, not the " +
                                           std::to_string(args.rows.size()) + " given (paged_kv_cache::plan_write lists them)");
  }
}

namespace reference_kernels {

// The rows of `args` (checked by the caller: zen5 splits checked args into ranges of rows).
inline void write_kv_rows(const kv_write_args& args) {
  const kv_layer_view& kv = args.kv;
  visit_kv_type(kv.type, [&]<class Format>() {
    using block = typename Format::block_type;
    const std::size_t row_blocks = kv.head_dim / Format::block_size;
    for (std::size_t t = 0; t < args.rows.size(); ++t) {
      const kv_row_slot target = args.rows[t];
      for (std::size_t h = 0; h < kv.kv_heads; ++h) {
        auto* k_row = reinterpret_cast<block*>(kv.k_rows(target.block, h) + target.slot * kv.row_bytes);
        auto* v_row = reinterpret_cast<block*>(kv.v_rows(target.block, h) + target.slot * kv.row_bytes);
        quantize_row<Format>(args.k.row(t).span().subspan(h * kv.head_dim, kv.head_dim), {k_row, row_blocks});
        quantize_row<Format>(args.v.row(t).span().subspan(h * kv.head_dim, kv.head_dim), {v_row, row_blocks});
      }
    }
  });
}

inline void write_kv(const kv_write_args& args) {
  check_kv_write_shapes(args, "kv write");
  write_kv_rows(args);
}

}  // namespace reference_kernels
}  // namespace strix
