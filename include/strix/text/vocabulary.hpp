// vocabulary: everything a tokenizer file says about its tokens, in one plain struct that both
// loaders (tokenizer.json, GGUF metadata) fill and the GGUF writer reads: the piece of each id, its
// kind (GGUF token_type numbering), optional scores, the BPE merges, the special ids, and which
// algorithm and pre-tokenizer apply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <strix/core/error.hpp>

namespace strix::text {

// Values as GGUF's tokenizer.ggml.token_type stores them.
enum class token_kind : std::int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

enum class tokenizer_algorithm {
  // Gemma: spaces become "▁", BPE over each text segment, unknown characters fall back to <0xNN>.
  sentencepiece_bpe,
  // Qwen/GPT-2: NFC, a regex pre-tokenizer, bytes mapped to printable characters, BPE per piece.
  byte_level_bpe,
};

// The pre-tokenizers byte-level BPE knows, by llama.cpp's tokenizer.ggml.pre name.
enum class pre_tokenizer { none, qwen2, qwen35 };

// The regexes of the Hugging Face tokenizer.json files that `pre_tokenizer::qwen2` (Qwen2, Qwen3)
// and `pre_tokenizer::qwen35` (Qwen3.5: combining marks \p{M} belong to words) implement.
inline constexpr std::string_view qwen2_split_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view qwen35_split_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// llama.cpp's tokenizer.ggml.pre name of a byte-level pre-tokenizer.
[[nodiscard]] constexpr std::string_view gguf_name_of(pre_tokenizer p) noexcept { return p == pre_tokenizer::qwen35 ? "qwen35" : "qwen2"; }

using token_id = std::int32_t;
inline constexpr token_id no_token = -1;

struct vocabulary {
  tokenizer_algorithm algorithm = tokenizer_algorithm::sentencepiece_bpe;
  pre_tokenizer pre = pre_tokenizer::none;
  bool normalize_nfc = false;
  std::vector<std::string> pieces;
  std::vector<token_kind> kinds;
  std::vector<float> scores;  // empty when the source has none
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  token_id bos = no_token;
  token_id eos = no_token;
  token_id end_of_turn = no_token;  // the token a chat turn ends with, when the format has one
  token_id unknown = no_token;
  token_id padding = no_token;
  bool add_bos = false;
  std::string chat_template;  // the Jinja original, when the file carries one

  [[nodiscard]] std::size_t size() const noexcept { return pieces.size(); }

  [[nodiscard]] std::optional<token_id> find(std::string_view piece) const {
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      if (pieces[i] == piece) return static_cast<token_id>(i);
    }
    return std::nullopt;
  }

  // Throws naming `source` when ids, kinds and scores disagree in size or a special id is out of range.
  void validate(const std::string& source) const {
    if (pieces.empty()) throw error(error_category::format, source + ": the tokenizer has no tokens");
    if (kinds.size() != pieces.size()) {
      throw error(error_category::format, source + ": " + std::to_string(kinds.size()) + " token types for " +
                                              std::to_string(pieces.size()) + " tokens");
    }
    if (!scores.empty() && scores.size() != pieces.size()) {
      throw error(error_category::format, source + ": " + std::to_string(scores.size()) + " token scores for " +
                                              std::to_string(pieces.size()) + " tokens");
    }
    for (auto [name, id] : {std::pair{"bos", bos}, {"eos", eos}, {"end-of-turn", end_of_turn}, {"unknown", unknown},
                            {"padding", padding}}) {
      if (id != no_token && (id < 0 || static_cast<std::size_t>(id) >= pieces.size())) {
        throw error(error_category::format, source + ": " + name + " token id " + std::to_string(id) +
                                                " is outside the vocabulary of " + std::to_string(pieces.size()));
      }
    }
  }
};

}  // namespace strix::text
