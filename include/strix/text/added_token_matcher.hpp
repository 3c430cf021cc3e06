// added_token_matcher: finds control and user-defined tokens in raw text before any normalization,
// leftmost-longest as Hugging Face does. User-defined tokens always match; control tokens only when
// the caller asks for special-token parsing (text typed by a user must not be able to inject a
// turn marker unless the application wants that).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include <strix/text/vocabulary.hpp>

namespace strix::text {

class added_token_matcher {
 public:
  added_token_matcher() = default;

  explicit added_token_matcher(const vocabulary& vocab) {
    nodes_.emplace_back();
    for (std::size_t id = 0; id < vocab.size(); ++id) {
      const token_kind kind = vocab.kinds[id];
      if ((kind != token_kind::control && kind != token_kind::user_defined) || vocab.pieces[id].empty()) continue;
      std::int32_t node = 0;
      for (const char ch : vocab.pieces[id]) {
        const auto byte = static_cast<unsigned char>(ch);
        std::int32_t child = child_of(node, byte);
        if (child < 0) {
          child = static_cast<std::int32_t>(nodes_.size());
          nodes_[static_cast<std::size_t>(node)].edges.push_back({byte, child});
          nodes_.emplace_back();
        }
        node = child;
      }
      auto& terminal = nodes_[static_cast<std::size_t>(node)];
      terminal.token = static_cast<token_id>(id);
      terminal.control = kind == token_kind::control;
      first_bytes_[static_cast<unsigned char>(vocab.pieces[id][0])] = true;
    }
  }

  struct match {
    std::size_t length = 0;
    token_id token = no_token;
  };

  // The longest token starting at text[pos] (length 0 when none).
  [[nodiscard]] match longest_at(std::string_view text, std::size_t pos, bool parse_control) const noexcept {
    match best;
    if (!first_bytes_[static_cast<unsigned char>(text[pos])]) return best;
    std::int32_t node = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
      node = child_of(node, static_cast<unsigned char>(text[i]));
      if (node < 0) break;
      const auto& n = nodes_[static_cast<std::size_t>(node)];
      if (n.token != no_token && (parse_control || !n.control)) best = {i + 1 - pos, n.token};
    }
    return best;
  }

  // Calls on_text(std::string_view) for the stretches between tokens and on_token(token_id) for
  // each token, in order.
  template <class OnText, class OnToken>
  void split(std::string_view text, bool parse_control, OnText&& on_text, OnToken&& on_token) const {
    std::size_t start = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const match m = longest_at(text, pos, parse_control);
      if (m.length == 0) {
        ++pos;
        continue;
      }
      if (pos > start) on_text(text.substr(start, pos - start));
      on_token(m.token);
      pos += m.length;
      start = pos;
    }
    if (start < text.size()) on_text(text.substr(start));
  }

 private:
  struct trie_node {
    std::vector<std::pair<unsigned char, std::int32_t>> edges;
    token_id token = no_token;
    bool control = false;
  };

  [[nodiscard]] std::int32_t child_of(std::int32_t node, unsigned char byte) const noexcept {
    for (const auto& [b, child] : nodes_[static_cast<std::size_t>(node)].edges) {
      if (b == byte) return child;
    }
    return -1;
  }

  std::vector<trie_node> nodes_;
  std::array<bool, 256> first_bytes_{};
};

}  // namespace strix::text
