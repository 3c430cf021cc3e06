// How an attention kernel sees a paged KV cache: plain descriptors (no ownership, no allocation),
// shared by every device policy and filled in by strix/kv's paged_kv_cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include <strix/core/tensor_view.hpp>
#include <strix/quant/kv_type.hpp>

namespace strix {

using kv_block_id = std::uint32_t;
inline constexpr kv_block_id no_kv_block = std::numeric_limits<kv_block_id>::max();

// One layer's storage. A block holds block_size positions; within it, one head's rows are
// contiguous, row_bytes apart, K and V in separate runs.
struct kv_layer_view {
  kv_type type = kv_type::f32;
  std::size_t block_size = 0;
  std::size_t kv_heads = 0;
  std::size_t head_dim = 0;
  std::size_t row_bytes = 0;
  std::size_t window = 0;  // 0: global attention
  std::byte* base = nullptr;
  std::size_t block_bytes = 0;
  std::size_t k_offset = 0;
  std::size_t v_offset = 0;
  // What lets a device keep its own copy of the blocks (a discrete GPU): the blocks at base, the
  // cache's identity (random, so a new cache at a freed one's address is told apart) and per block
  // a stamp that changes whenever any of this layer's bytes in the block are written (each layer
  // has its own stamps, so writing one layer leaves the others' copies current). block_stamps null:
  // unknown, every block may have changed.
  std::size_t blocks = 0;
  std::uint64_t cache_id = 0;
  const std::uint64_t* block_stamps = nullptr;

  // Bytes of one block's K rows of every head (and of its V rows): what a device copies per block.
  [[nodiscard]] std::size_t run_bytes() const noexcept { return kv_heads * block_size * row_bytes; }
  [[nodiscard]] std::byte* k_rows(kv_block_id block, std::size_t head) const noexcept {
    return base + block * block_bytes + k_offset + head * block_size * row_bytes;
  }
  [[nodiscard]] std::byte* v_rows(kv_block_id block, std::size_t head) const noexcept {
    return base + block * block_bytes + v_offset + head * block_size * row_bytes;
  }
};

// One sequence's positions: position p lives in blocks[p / block_size] at slot p % block_size;
// entries of released sliding-window blocks are no_kv_block.
struct kv_sequence_view {
  std::span<const kv_block_id> blocks;
  std::size_t length = 0;
};

// Where one new position's K and V rows go.
struct kv_row_slot {
  kv_block_id block = 0;
  std::uint32_t slot = 0;  // position % block_size
};

// A block a write fills slots [first_slot, first_slot + slots) of, with the layer's stamp for the
// block before and after the write: a device whose copy of the block was current at stamp_before
// has, once it writes the same rows into its copy, a copy current at stamp_after.
struct kv_block_write {
  kv_block_id block = 0;
  std::uint32_t first_slot = 0;
  std::uint32_t slots = 0;
  std::uint64_t stamp_before = 0;
  std::uint64_t stamp_after = 0;
};

// One layer's new K and V rows ([row][kv_heads · head_dim] each) quantized into the cache: row i
// goes to rows[i]. paged_kv_cache::plan_write fills rows and blocks and stamps the blocks.
struct kv_write_args {
  kv_layer_view kv;
  std::span<const kv_row_slot> rows;
  std::span<const kv_block_write> blocks;
  matrix_view<const float> k;
  matrix_view<const float> v;
};

}  // namespace strix
