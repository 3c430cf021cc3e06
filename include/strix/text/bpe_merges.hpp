// bpe_merges: the ranked merge table of a BPE vocabulary and the merge loop. The loop follows
// Hugging Face's order exactly: repeatedly merge the adjacent pair with the lowest rank, the
// leftmost one among equal ranks, until no adjacent pair has a merge. A heap of candidate pairs
// keeps it O(n log n), so a whole paragraph (SentencePiece-style BPE has no pre-tokenizer) is as
// cheap per byte as a word.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/text/vocabulary.hpp>

namespace strix::text {

class bpe_merges {
 public:
  bpe_merges() = default;

  // `id_of` maps a piece to its id; every merge's two parts and their concatenation must exist.
  template <class IdOf>
  bpe_merges(const std::vector<std::pair<std::string, std::string>>& merges, IdOf&& id_of, const std::string& source) {
    std::size_t capacity = 16;
    shift_ = 60;
    while (capacity < merges.size() * 2) {
      capacity *= 2;
      --shift_;
    }
    slots_.assign(capacity, slot{});
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [left, right] = merges[rank];
      const token_id a = id_of(left);
      const token_id b = id_of(right);
      const token_id merged = id_of(left + right);
      if (a == no_token || b == no_token || merged == no_token) {
        throw error(error_category::format, source + ": merge #" + std::to_string(rank) + " ('" + left + "' '" + right +
                                                "') names a piece that is not in the vocabulary");
      }
      // A pair listed twice keeps its first (lowest) rank, as Hugging Face does.
      slot& s = probe(key(a, b));
      if (s.key == empty_key) s = {key(a, b), {static_cast<std::uint32_t>(rank), merged}};
    }
  }

  struct entry {
    std::uint32_t rank;
    token_id merged;
  };

  [[nodiscard]] const entry* find(token_id a, token_id b) const noexcept {
    if (slots_.empty()) return nullptr;
    const slot& s = const_cast<bpe_merges*>(this)->probe(key(a, b));
    return s.key == empty_key ? nullptr : &s.value;
  }

  // Reusable buffers of one merge run.
  struct workspace {
    struct symbol {
      token_id id;
      std::int32_t prev;
      std::int32_t next;
    };
    struct candidate {
      std::uint32_t rank;
      std::int32_t pos;
      token_id merged;
      bool operator>(const candidate& o) const noexcept { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::vector<symbol> symbols;
    std::vector<candidate> heap;
  };

  // Merges `ids` in place.
  void apply(std::vector<token_id>& ids, workspace& ws) const {
    if (ids.size() < 2 || slots_.empty()) return;
    auto& symbols = ws.symbols;
    auto& heap = ws.heap;
    symbols.clear();
    heap.clear();
    const auto n = static_cast<std::int32_t>(ids.size());
    for (std::int32_t i = 0; i < n; ++i) symbols.push_back({ids[static_cast<std::size_t>(i)], i - 1, i + 1 < n ? i + 1 : -1});
    const auto later = std::greater<workspace::candidate>{};
    const auto push = [&](std::int32_t pos) {
      const auto& s = symbols[static_cast<std::size_t>(pos)];
      if (s.next < 0) return;
      if (const entry* e = find(s.id, symbols[static_cast<std::size_t>(s.next)].id)) {
        heap.push_back({e->rank, pos, e->merged});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    };
    for (std::int32_t i = 0; i + 1 < n; ++i) push(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      const auto top = heap.back();
      heap.pop_back();
      auto& left = symbols[static_cast<std::size_t>(top.pos)];
      if (left.id == no_token || left.next < 0) continue;  // merged away, or now last
      auto& right = symbols[static_cast<std::size_t>(left.next)];
      const entry* e = find(left.id, right.id);
      if (e == nullptr || e->merged != top.merged) continue;  // the pair changed since it was queued
      left.id = top.merged;
      right.id = no_token;
      left.next = right.next;
      if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = top.pos;
      if (left.prev >= 0) push(left.prev);
      push(top.pos);
    }
    ids.clear();
    for (std::int32_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) ids.push_back(symbols[static_cast<std::size_t>(i)].id);
  }

 private:
  static constexpr std::uint64_t key(token_id a, token_id b) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  static constexpr std::uint64_t empty_key = ~std::uint64_t{0};  // ids are never both -1

  struct slot {
    std::uint64_t key = empty_key;
    entry value{};
  };

  // Open addressing with linear probing at load <= 1/2: the slot holding `k`, or the empty slot
  // where it would go. The lookup sits in the merge loop's inner step, hence no std::unordered_map.
  slot& probe(std::uint64_t k) noexcept {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ull) >> shift_);  // Fibonacci hashing: top bits
    while (slots_[i].key != k && slots_[i].key != empty_key) i = (i + 1) & mask;
    return slots_[i];
  }

  std::vector<slot> slots_;
  unsigned shift_ = 60;  // 64 - log2(slots_.size())
};

}  // namespace strix::text
