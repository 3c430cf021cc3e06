// paged_kv_cache: K and V of every KV-owning layer in fixed-size blocks from pools sized once from a
// byte budget, with per-sequence block tables, copy-on-write forks, exact truncation, prefix
// caching and sliding-window release.
//
// Protocol. append(seq, tokens) reserves positions; the caller then writes those positions' K and V
// for every layer (write()) before its next call that names the sequence. That next call publishes
// the sequence's newly filled blocks to the prefix cache, so a block is shared only once written.
// Running out of blocks (or sequences) is a returned status, never undefined behaviour; a failed
// append leaves the sequence's positions and tokens unchanged.
//
// Sliding-window groups keep, behind the newest append, the window plus options().max_rollback
// positions; older blocks go back to the pool (or stay as evictable prefix-cache entries). So their
// memory is constant as a sequence grows, and truncate() is exact for any rollback up to
// max_rollback; a deeper one that would need released positions is refused (window_released).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <strix/core/buffer.hpp>
#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/paged_kv_view.hpp>
#include <strix/device/reference/kv_write.hpp>
#include <strix/kv/block_pool.hpp>
#include <strix/kv/kv_layout.hpp>
#include <strix/kv/kv_status.hpp>
#include <strix/kv/prefix_hash.hpp>
#include <strix/quant/quantized_view.hpp>

namespace strix {

using kv_sequence_id = std::uint32_t;

struct kv_sequence_result {
  kv_status status = kv_status::ok;
  kv_sequence_id sequence = 0;
  explicit operator bool() const noexcept { return status == kv_status::ok; }
};

struct kv_group_stats {
  std::size_t capacity = 0;   // blocks
  std::size_t in_use = 0;     // referenced by a sequence
  std::size_t evictable = 0;  // unreferenced, holding a cached prefix
  std::size_t free = 0;
  std::size_t block_bytes = 0;
};

class paged_kv_cache {
 public:
  paged_kv_cache(kv_layout layout, std::size_t budget_bytes) : layout_(std::move(layout)) {
    const std::vector<std::size_t> blocks = layout_.blocks_for_budget(budget_bytes);
    for (std::size_t g = 0; g < layout_.groups().size(); ++g) {
      pools_.emplace_back(blocks[g], layout_.options().block_size);
      storage_.emplace_back(blocks[g] * layout_.groups()[g].block_bytes);
      stamps_.emplace_back(blocks[g] * layout_.groups()[g].layers.size(), 0);
    }
    std::random_device entropy;
    id_ = (std::uint64_t{entropy()} << 32) ^ entropy();
  }

  [[nodiscard]] const kv_layout& layout() const noexcept { return layout_; }
  [[nodiscard]] std::size_t block_size() const noexcept { return layout_.options().block_size; }

  [[nodiscard]] kv_sequence_result create() {
    const kv_sequence_result slot = claim_sequence();
    if (slot) sequences_[slot.sequence].tables.assign(pools_.size(), {});
    return slot;
  }

  // A new sequence sharing every block of `parent`; either side copies a shared block before
  // writing into it.
  [[nodiscard]] kv_sequence_result fork(kv_sequence_id parent) {
    settle(checked(parent));
    const kv_sequence_result child = claim_sequence();
    if (!child) return child;
    sequence_state& copy = sequences_[child.sequence];
    copy = sequences_[parent];
    for (std::size_t g = 0; g < pools_.size(); ++g) {
      for (kv_block_id b : copy.tables[g]) {
        if (b != no_kv_block) pools_[g].retain(b);
      }
    }
    return child;
  }

  [[nodiscard]] kv_status append(kv_sequence_id seq, std::span<const std::int32_t> tokens) {
    sequence_state& s = checked(seq);
    if (tokens.empty()) return kv_status::ok;
    if (tokens.size() > layout_.options().max_step_tokens) return kv_status::step_too_large;
    settle(s);
    const std::size_t old_length = s.tokens.size();
    const std::size_t new_length = old_length + tokens.size();
    for (std::size_t g = 0; g < pools_.size(); ++g) release_outside_window(s, g);

    for (std::size_t g = 0; g < pools_.size(); ++g) {
      const std::size_t fresh = blocks_for(new_length) - s.tables[g].size();
      const bool copy = old_length % block_size() != 0 && pools_[g].refcount(s.tables[g].back()) > 1;
      if (pools_[g].available() < fresh + (copy ? 1 : 0)) return kv_status::out_of_blocks;
    }
    for (std::size_t g = 0; g < pools_.size(); ++g) {
      std::vector<kv_block_id>& table = s.tables[g];
      if (old_length % block_size() != 0) make_writable(g, table.back());
      while (table.size() < blocks_for(new_length)) table.push_back(*pools_[g].allocate());
    }
    s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
    return kv_status::ok;
  }

  // Drops exactly the positions ≥ length (no-op when the sequence is not longer). Refused, leaving
  // the sequence as it was, when a sliding group no longer holds the window before `length`.
  [[nodiscard]] kv_status truncate(kv_sequence_id seq, std::size_t length) {
    sequence_state& s = checked(seq);
    if (length >= s.tokens.size()) return kv_status::ok;
    settle(s);
    for (std::size_t g = 0; g < pools_.size(); ++g) {
      const std::size_t window = layout_.groups()[g].window;
      if (window == 0 || length == 0) continue;
      const std::size_t first = length >= window ? length - window + 1 : 0;
      for (std::size_t b = first / block_size(); b < blocks_for(length); ++b) {
        if (s.tables[g][b] == no_kv_block) return kv_status::window_released;
      }
    }
    for (std::size_t g = 0; g < pools_.size(); ++g) {
      std::vector<kv_block_id>& table = s.tables[g];
      while (table.size() > blocks_for(length)) {
        if (table.back() != no_kv_block) pools_[g].release(table.back());
        table.pop_back();
      }
    }
    for (std::size_t g = 0; g < pools_.size(); ++g) s.released[g] = std::min(s.released[g], s.tables[g].size());
    s.tokens.resize(length);
    s.hashes.resize(std::min(s.hashes.size(), length / block_size()));
    return kv_status::ok;
  }

  // Ends a sequence; its written full blocks stay in the prefix cache until evicted.
  void release(kv_sequence_id seq) {
    sequence_state& s = checked(seq);
    settle(s);
    for (std::size_t g = 0; g < pools_.size(); ++g) {
      for (kv_block_id b : s.tables[g]) {
        if (b != no_kv_block) pools_[g].release(b);
      }
    }
    s = sequence_state{};
    free_ids_.push_back(seq);
  }

  // Positions of `tokens` whose KV the prefix cache holds (a multiple of block_size), at most max_tokens.
  [[nodiscard]] std::size_t cached_prefix_length(std::span<const std::int32_t> tokens, std::size_t max_tokens) const {
    std::vector<std::uint64_t> hashes;
    return match_prefix(tokens, max_tokens, hashes) * block_size();
  }

  // Gives an empty sequence the longest cached prefix of `tokens` (at most max_tokens positions;
  // pass tokens.size() - 1 to keep one token to compute logits from). Returns the positions reused;
  // the caller appends the rest.
  std::size_t reuse_prefix(kv_sequence_id seq, std::span<const std::int32_t> tokens, std::size_t max_tokens) {
    sequence_state& s = checked(seq);
    if (!s.tokens.empty()) throw error(error_category::shape, "kv cache: reuse_prefix needs an empty sequence");
    ++prefix_queries_;
    std::vector<std::uint64_t> hashes;
    const std::size_t blocks = match_prefix(tokens, max_tokens, hashes);
    const std::size_t length = blocks * block_size();
    for (std::size_t g = 0; g < pools_.size(); ++g) {
      const std::size_t first = first_needed_block(g, length);
      s.tables[g].assign(blocks, no_kv_block);
      for (std::size_t b = first; b < blocks; ++b) {
        const kv_block_id id = find_block(g, hashes, tokens, b);
        pools_[g].retain(id);
        s.tables[g][b] = id;
      }
      s.released[g] = first;
    }
    s.tokens.assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(length));
    s.hashes = std::move(hashes);
    prefix_hit_tokens_ += length;
    return length;
  }

  // Quantizes K and V rows ([token][kv_heads · head_dim]) of positions first, first + 1, ... of a
  // sequence into `layer`'s blocks, on the host. The positions must have been appended and not yet
  // published. (A device writes them with plan_write and its write_kv.)
  void write(kv_sequence_id seq, std::size_t layer, std::size_t first, matrix_view<const float> k, matrix_view<const float> v) {
    const kv_layer_spec& spec = checked_layer(layer);
    const std::size_t width = spec.kv_heads * spec.head_dim;
    if (k.extent(0) != v.extent(0) || k.extent(1) != width || v.extent(1) != width) {
      throw error(error_category::shape, "kv cache write, layer " + std::to_string(layer) + ": K and V rows must be [tokens][" +
                                             std::to_string(width) + "]");
    }
    std::vector<kv_row_slot> slots(k.extent(0));
    std::vector<kv_block_write> blocks;
    plan_write(seq, layer, first, slots, blocks);
    reference_kernels::write_kv({layer_view(layer), slots, blocks, k, v});
  }

  // Where positions first, first + 1, ... (one per entry of `slots`) of a sequence go in `layer`:
  // fills `slots`, appends the blocks they fill to `blocks` and moves those blocks' stamps for the
  // layer, for a device's write_kv (kv_write_args) that must follow before anything reads them.
  // The positions must have been appended and not yet published (published blocks may be shared
  // through the prefix cache: they are immutable).
  void plan_write(kv_sequence_id seq, std::size_t layer, std::size_t first, std::span<kv_row_slot> slots,
                  std::vector<kv_block_write>& blocks) {
    const sequence_state& s = checked(seq);
    (void)checked_layer(layer);
    if (first < s.hashes.size() * block_size() || first + slots.size() > s.tokens.size()) {
      throw error(error_category::shape, "kv cache write, layer " + std::to_string(layer) + ": positions " +
                                             std::to_string(first) + ".." + std::to_string(first + slots.size()) +
                                             " are not the sequence's newly appended ones");
    }
    const std::size_t group = layout_.placement(layer).group;
    std::uint64_t* stamps = layer_stamps(layer);
    for (std::size_t t = 0; t < slots.size(); ++t) {
      const std::size_t position = first + t;
      const kv_block_id b = s.tables[group][position / block_size()];
      const auto slot = static_cast<std::uint32_t>(position % block_size());
      slots[t] = {b, slot};
      if (t > 0 && blocks.back().block == b) {
        ++blocks.back().slots;
        continue;
      }
      const std::uint64_t before = stamps[b];
      stamps[b] = ++last_stamp_;
      blocks.push_back({b, slot, 1, before, stamps[b]});
    }
  }

  [[nodiscard]] kv_layer_view layer_view(std::size_t layer) {
    const kv_layer_spec& spec = layout_.layer(layer);
    const kv_layer_placement& place = layout_.placement(layer);
    return {layout_.options().type, block_size(), spec.kv_heads, spec.head_dim, layout_.row_bytes(layer), spec.window,
            storage_[place.group].data(), layout_.groups()[place.group].block_bytes, place.k_offset, place.v_offset,
            pools_[place.group].capacity(), id_, layer_stamps(layer)};
  }
  [[nodiscard]] kv_sequence_view sequence_view(kv_sequence_id seq, std::size_t layer) const {
    const sequence_state& s = checked(seq);
    return {s.tables[layout_.placement(layer).group], s.tokens.size()};
  }

  [[nodiscard]] std::size_t length(kv_sequence_id seq) const { return checked(seq).tokens.size(); }
  [[nodiscard]] std::span<const std::int32_t> tokens(kv_sequence_id seq) const { return checked(seq).tokens; }
  [[nodiscard]] bool is_active(kv_sequence_id seq) const noexcept { return seq < sequences_.size() && sequences_[seq].active; }
  [[nodiscard]] std::size_t active_sequences() const noexcept { return sequences_.size() - free_ids_.size(); }
  [[nodiscard]] std::span<const kv_block_id> block_table(kv_sequence_id seq, std::size_t group) const {
    return checked(seq).tables.at(group);
  }
  [[nodiscard]] std::size_t blocks_held(kv_sequence_id seq, std::size_t group) const {
    const auto table = block_table(seq, group);
    return static_cast<std::size_t>(std::count_if(table.begin(), table.end(), [](kv_block_id b) { return b != no_kv_block; }));
  }
  [[nodiscard]] const block_pool& pool(std::size_t group) const { return pools_.at(group); }
  [[nodiscard]] kv_group_stats group_stats(std::size_t group) const {
    const block_pool& p = pool(group);
    return {p.capacity(), p.in_use(), p.evictable(), p.available() - p.evictable(), layout_.groups()[group].block_bytes};
  }
  // Bytes of blocks referenced by live sequences (evictable cached blocks are reclaimable, not in use).
  [[nodiscard]] std::size_t bytes_in_use() const noexcept {
    std::size_t bytes = 0;
    for (std::size_t g = 0; g < pools_.size(); ++g) bytes += pools_[g].in_use() * layout_.groups()[g].block_bytes;
    return bytes;
  }
  [[nodiscard]] std::size_t bytes_reserved() const noexcept {
    std::size_t bytes = 0;
    for (const auto& s : storage_) bytes += s.size();
    return bytes;
  }
  [[nodiscard]] std::size_t prefix_queries() const noexcept { return prefix_queries_; }
  [[nodiscard]] std::size_t prefix_hit_tokens() const noexcept { return prefix_hit_tokens_; }

 private:
  struct sequence_state {
    bool active = false;
    std::vector<std::int32_t> tokens;
    std::vector<std::uint64_t> hashes;               // chain hash of each published full block
    std::vector<std::vector<kv_block_id>> tables;    // per group
    std::vector<std::size_t> released;               // per group: table entries below this are no_kv_block
  };

  [[nodiscard]] std::size_t blocks_for(std::size_t length) const noexcept { return (length + block_size() - 1) / block_size(); }

  [[nodiscard]] const kv_layer_spec& checked_layer(std::size_t layer) const {
    if (layer >= layout_.layer_count()) {
      throw error(error_category::shape, "kv cache write: no layer " + std::to_string(layer) + " (the cache has " +
                                             std::to_string(layout_.layer_count()) + ")");
    }
    return layout_.layer(layer);
  }

  // The layer's stamp per block of its group (kv_layer_view::block_stamps).
  [[nodiscard]] std::uint64_t* layer_stamps(std::size_t layer) {
    const kv_layer_placement& place = layout_.placement(layer);
    return stamps_of(place.group, place.index_in_group);
  }
  // Stamps of the group's layer `index` (its position in the group): one per block of the pool.
  [[nodiscard]] std::uint64_t* stamps_of(std::size_t group, std::size_t index) {
    return stamps_[group].data() + index * pools_[group].capacity();
  }

  [[nodiscard]] sequence_state& checked(kv_sequence_id seq) {
    if (!is_active(seq)) throw error(error_category::shape, "kv cache: sequence " + std::to_string(seq) + " is not live");
    return sequences_[seq];
  }
  [[nodiscard]] const sequence_state& checked(kv_sequence_id seq) const {
    if (!is_active(seq)) throw error(error_category::shape, "kv cache: sequence " + std::to_string(seq) + " is not live");
    return sequences_[seq];
  }

  kv_sequence_result claim_sequence() {
    if (active_sequences() >= layout_.options().max_sequences) return {kv_status::too_many_sequences, 0};
    kv_sequence_id id;
    if (!free_ids_.empty()) {
      id = free_ids_.back();
      free_ids_.pop_back();
    } else {
      id = static_cast<kv_sequence_id>(sequences_.size());
      sequences_.emplace_back();
    }
    sequences_[id].active = true;
    sequences_[id].released.assign(pools_.size(), 0);
    return {kv_status::ok, id};
  }

  // Publishes the sequence's full blocks written since the last call to the prefix cache.
  void settle(sequence_state& s) {
    const std::size_t full = s.tokens.size() / block_size();
    for (std::size_t b = s.hashes.size(); b < full; ++b) {
      const std::uint64_t parent = b == 0 ? prefix_hash_seed : s.hashes[b - 1];
      const auto block_tokens = std::span(s.tokens).subspan(b * block_size(), block_size());
      s.hashes.push_back(chain_hash(parent, block_tokens));
      for (std::size_t g = 0; g < pools_.size(); ++g) {
        if (s.tables[g][b] != no_kv_block) pools_[g].cache(s.tables[g][b], s.hashes[b], parent, block_tokens);
      }
    }
  }

  // First block a sliding group must hold for a sequence of `length` positions to attend its next
  // query (at `length`): the window reaches back to length - window + 1.
  [[nodiscard]] std::size_t first_needed_block(std::size_t group, std::size_t length) const noexcept {
    const std::size_t window = layout_.groups()[group].window;
    if (window == 0 || length < window) return 0;
    return (length - window + 1) / block_size();
  }

  // Before an append at the current length: positions every later query can still need, for any
  // truncate of up to max_rollback, start at length - max_rollback - window + 1.
  void release_outside_window(sequence_state& s, std::size_t group) {
    const std::size_t window = layout_.groups()[group].window;
    const std::size_t reach = window + layout_.options().max_rollback;
    if (window == 0 || s.tokens.size() < reach) return;
    const std::size_t keep_from = (s.tokens.size() - reach + 1) / block_size();
    std::vector<kv_block_id>& table = s.tables[group];
    for (std::size_t& b = s.released[group]; b < keep_from; ++b) {
      if (table[b] != no_kv_block) pools_[group].release(table[b]);
      table[b] = no_kv_block;
    }
  }

  // Before writing into a block: a shared one is copied, a cached one leaves the cache.
  void make_writable(std::size_t group, kv_block_id& block) {
    block_pool& pool = pools_[group];
    if (pool.refcount(block) == 1) {
      pool.uncache(block);
      return;
    }
    const kv_block_id copy = *pool.allocate();
    const std::size_t bytes = layout_.groups()[group].block_bytes;
    std::memcpy(storage_[group].data() + copy * bytes, storage_[group].data() + block * bytes, bytes);
    for (std::size_t index = 0; index < layout_.groups()[group].layers.size(); ++index) stamps_of(group, index)[copy] = ++last_stamp_;
    pool.release(block);
    block = copy;
  }

  [[nodiscard]] kv_block_id find_block(std::size_t group, std::span<const std::uint64_t> hashes,
                                       std::span<const std::int32_t> tokens, std::size_t b) const {
    const std::uint64_t parent = b == 0 ? prefix_hash_seed : hashes[b - 1];
    return pools_[group].find(hashes[b], parent, tokens.subspan(b * block_size(), block_size()));
  }

  // Blocks of the longest prefix every group can serve: the global group needs all of them, a
  // sliding group the ones its window reaches from the end of the prefix. Fills `hashes`.
  [[nodiscard]] std::size_t match_prefix(std::span<const std::int32_t> tokens, std::size_t max_tokens,
                                         std::vector<std::uint64_t>& hashes) const {
    const std::size_t limit = std::min(tokens.size(), max_tokens) / block_size();
    std::size_t blocks = 0;
    for (; blocks < limit; ++blocks) {
      const std::uint64_t parent = blocks == 0 ? prefix_hash_seed : hashes[blocks - 1];
      hashes.push_back(chain_hash(parent, tokens.subspan(blocks * block_size(), block_size())));
      bool held = true;
      for (std::size_t g = 0; g < pools_.size() && held; ++g) {
        held = layout_.groups()[g].window != 0 || find_block(g, hashes, tokens, blocks) != no_kv_block;
      }
      if (!held) {
        hashes.pop_back();
        break;
      }
    }
    for (; blocks > 0; --blocks) {
      bool held = true;
      for (std::size_t g = 0; g < pools_.size() && held; ++g) {
        if (layout_.groups()[g].window == 0) continue;
        for (std::size_t b = first_needed_block(g, blocks * block_size()); b < blocks && held; ++b) {
          held = find_block(g, hashes, tokens, b) != no_kv_block;
        }
      }
      if (held) break;
      hashes.pop_back();
    }
    return blocks;
  }

  kv_layout layout_;
  std::vector<block_pool> pools_;
  std::vector<buffer<std::byte>> storage_;
  // Per group, per layer of the group and block, the stamp of its last write (kv_layer_view::block_stamps).
  std::vector<std::vector<std::uint64_t>> stamps_;
  std::uint64_t last_stamp_ = 0;
  std::uint64_t id_ = 0;
  std::vector<sequence_state> sequences_;
  std::vector<kv_sequence_id> free_ids_;
  std::size_t prefix_queries_ = 0;
  std::size_t prefix_hit_tokens_ = 0;
};

}  // namespace strix
