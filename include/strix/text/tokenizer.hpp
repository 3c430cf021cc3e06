// tokenizer: encode text to ids and decode ids to bytes, for the two BPE families strix's models
// use (see tokenizer_algorithm). Built from a `vocabulary` that tokenizer_json.hpp or
// tokenizer_gguf.hpp loads. Both directions reproduce Hugging Face tokenizers id for id; the tests
// check it on a recorded corpus. A tokenizer is immutable after construction and safe to share
// between threads; each call keeps its scratch in an `encode_workspace` it owns or is given.
#pragma once

#include <array>
#include <memory>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uniset.h>

#include <strix/core/error.hpp>
#include <strix/text/added_token_matcher.hpp>
#include <strix/text/bpe_merges.hpp>
#include <strix/text/byte_level.hpp>
#include <strix/text/pretokenizer.hpp>
#include <strix/text/utf8.hpp>
#include <strix/text/vocabulary.hpp>

namespace strix::text {

struct encode_options {
  bool add_bos = false;        // prepend the vocabulary's BOS token (when it has one)
  bool parse_control = false;  // match control-token text such as "<|turn>" as those tokens
};

struct encode_workspace {
  std::vector<token_id> symbols;
  bpe_merges::workspace merge;
  std::vector<detail::coded_char> chars;
  std::string normalized;
};

class tokenizer {
 public:
  explicit tokenizer(vocabulary vocab, const std::string& source = "tokenizer") : vocab_(std::move(vocab)) {
    vocab_.validate(source);
    piece_ids_.reserve(vocab_.size() * 2);
    for (std::size_t id = 0; id < vocab_.size(); ++id) {
      // The first id of a piece listed twice wins, as when Hugging Face builds its vocab map.
      piece_ids_.try_emplace(vocab_.pieces[id], static_cast<token_id>(id));
    }
    const auto id_of = [&](const std::string& piece) {
      const auto it = piece_ids_.find(piece);
      return it == piece_ids_.end() ? no_token : it->second;
    };
    merges_ = bpe_merges(vocab_.merges, id_of, source);
    added_ = added_token_matcher(vocab_);
    for (unsigned b = 0; b < 256; ++b) {
      if (vocab_.algorithm == tokenizer_algorithm::byte_level_bpe) {
        std::string piece;
        append_utf8(piece, bytes_.to_char(static_cast<unsigned char>(b)));
        byte_tokens_[b] = id_of(piece);
        if (byte_tokens_[b] == no_token) {
          throw error(error_category::format, source + ": byte-level vocabulary lacks the piece for byte " + std::to_string(b));
        }
      } else {
        char name[7];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_tokens_[b] = id_of(name);
      }
    }
    bmp_char_ids_.assign(0x10000, no_token);
    for (std::size_t id = 0; id < vocab_.size(); ++id) {
      const std::string& piece = vocab_.pieces[id];
      if (piece.empty() || vocab_.kinds[id] == token_kind::byte) continue;
      const std::size_t length = utf8_length_at(piece, 0);
      if (length == piece.size() && (length > 1 || static_cast<unsigned char>(piece[0]) < 0x80)) {
        const char32_t c = utf8_code_point_at(piece, 0, length);
        if (c < bmp_char_ids_.size()) {
          if (bmp_char_ids_[c] == no_token) bmp_char_ids_[c] = static_cast<token_id>(id);
        } else {
          single_char_ids_.try_emplace(c, static_cast<token_id>(id));
        }
      }
    }
    if (vocab_.normalize_nfc) nfc_ = std::make_shared<const unicode_9_nfc>(source);
  }

  [[nodiscard]] const vocabulary& vocab() const noexcept { return vocab_; }
  [[nodiscard]] std::size_t size() const noexcept { return vocab_.size(); }
  [[nodiscard]] token_id bos() const noexcept { return vocab_.bos; }
  [[nodiscard]] token_id eos() const noexcept { return vocab_.eos; }
  [[nodiscard]] token_id end_of_turn() const noexcept { return vocab_.end_of_turn; }
  [[nodiscard]] token_kind kind(token_id id) const { return vocab_.kinds.at(static_cast<std::size_t>(id)); }
  [[nodiscard]] const std::string& piece(token_id id) const { return vocab_.pieces.at(static_cast<std::size_t>(id)); }
  [[nodiscard]] token_id find(std::string_view piece) const {
    const auto it = piece_ids_.find(std::string(piece));
    return it == piece_ids_.end() ? no_token : it->second;
  }

  void encode(std::string_view text, const encode_options& options, std::vector<token_id>& out, encode_workspace& ws) const {
    if (options.add_bos && vocab_.bos != no_token) out.push_back(vocab_.bos);
    added_.split(
        text, options.parse_control, [&](std::string_view segment) { encode_segment(segment, out, ws); },
        [&](token_id id) { out.push_back(id); });
  }

  [[nodiscard]] std::vector<token_id> encode(std::string_view text, const encode_options& options = {}) const {
    std::vector<token_id> out;
    encode_workspace ws;
    encode(text, options, out, ws);
    return out;
  }

  // The bytes a token stands for. Control tokens give their text unless `skip_control`.
  void append_bytes(token_id id, std::string& out, bool skip_control = false) const {
    if (id < 0 || static_cast<std::size_t>(id) >= vocab_.size()) {
      throw error(error_category::shape, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                             std::to_string(vocab_.size()));
    }
    const auto index = static_cast<std::size_t>(id);
    const std::string& piece = vocab_.pieces[index];
    const token_kind kind = vocab_.kinds[index];
    if (kind == token_kind::control && skip_control) return;
    if (vocab_.algorithm == tokenizer_algorithm::sentencepiece_bpe) {
      if (kind == token_kind::byte && piece.size() == 6) {
        out += static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16));
        return;
      }
      for (std::size_t pos = 0; pos < piece.size();) {
        if (piece.compare(pos, 3, space_marker) == 0) {
          out += ' ';
          pos += 3;
        } else {
          out += piece[pos++];
        }
      }
      return;
    }
    if (kind == token_kind::control || kind == token_kind::user_defined) {
      out += piece;
      return;
    }
    for (std::size_t pos = 0; pos < piece.size();) {
      const std::size_t length = utf8_length_at(piece, pos);
      const int byte = bytes_.to_byte(utf8_code_point_at(piece, pos, length));
      if (byte >= 0) out += static_cast<char>(byte);
      else out.append(piece, pos, length);
      pos += length;
    }
  }

  [[nodiscard]] std::string decode(std::span<const token_id> ids, bool skip_control = false) const {
    std::string out;
    for (const token_id id : ids) append_bytes(id, out, skip_control);
    return out;
  }

 private:
  static constexpr std::string_view space_marker = "\xE2\x96\x81";  // U+2581 "▁"

  // NFC as Hugging Face tokenizers computes it: its tables are Unicode 9.0, so characters assigned
  // later are left alone (neither reordered nor composed). ICU filters its current NFC to the
  // characters of Unicode 9.0; the corpus test pins this down.
  struct unicode_9_nfc {
    explicit unicode_9_nfc(const std::string& source) {
      UErrorCode status = U_ZERO_ERROR;
      const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
      assigned = std::make_unique<icu::UnicodeSet>(icu::UnicodeString("[:age=9.0:]"), status);
      if (U_FAILURE(status)) throw error(error_category::unsupported, source + ": ICU cannot provide Unicode 9.0 NFC");
      assigned->freeze();
      normalizer = std::make_unique<icu::FilteredNormalizer2>(*nfc, *assigned);
    }
    std::unique_ptr<icu::UnicodeSet> assigned;
    std::unique_ptr<icu::FilteredNormalizer2> normalizer;
  };

  void encode_segment(std::string_view segment, std::vector<token_id>& out, encode_workspace& ws) const {
    if (vocab_.algorithm == tokenizer_algorithm::sentencepiece_bpe) {
      ws.symbols.clear();
      for (std::size_t pos = 0; pos < segment.size();) {
        const std::size_t length = utf8_length_at(segment, pos);
        if (segment[pos] == ' ') {
          push_char(U'\u2581', segment.substr(pos, 0), ws.symbols);
        } else {
          push_char(utf8_code_point_at(segment, pos, length), segment.substr(pos, length), ws.symbols);
        }
        pos += length;
      }
      merges_.apply(ws.symbols, ws.merge);
      out.insert(out.end(), ws.symbols.begin(), ws.symbols.end());
      return;
    }
    std::string_view normalized = segment;
    if (nfc_ != nullptr && !is_ascii(segment)) {
      UErrorCode status = U_ZERO_ERROR;
      const icu::StringPiece piece(segment.data(), static_cast<std::int32_t>(segment.size()));
      if (!nfc_->normalizer->isNormalizedUTF8(piece, status) || U_FAILURE(status)) {
        ws.normalized.clear();
        icu::StringByteSink<std::string> sink(&ws.normalized);
        status = U_ZERO_ERROR;
        nfc_->normalizer->normalizeUTF8(0, piece, sink, nullptr, status);
        if (U_FAILURE(status)) throw error(error_category::format, "text could not be NFC-normalized");
        normalized = ws.normalized;
      }
    }
    split_byte_level(vocab_.pre, normalized, ws.chars, [&](std::string_view word) {
      ws.symbols.clear();
      for (const char ch : word) ws.symbols.push_back(byte_tokens_[static_cast<unsigned char>(ch)]);
      merges_.apply(ws.symbols, ws.merge);
      out.insert(out.end(), ws.symbols.begin(), ws.symbols.end());
    });
  }

  // One character's symbols: its own token, else its bytes' <0xNN> tokens, else unknown.
  void push_char(char32_t c, std::string_view bytes, std::vector<token_id>& symbols) const {
    const bool malformed = bytes.size() == 1 && static_cast<unsigned char>(bytes[0]) >= 0x80;
    if (!malformed) {
      if (c < bmp_char_ids_.size()) {
        if (bmp_char_ids_[c] != no_token) {
          symbols.push_back(bmp_char_ids_[c]);
          return;
        }
      } else if (const auto it = single_char_ids_.find(c); it != single_char_ids_.end()) {
        symbols.push_back(it->second);
        return;
      }
    }
    if (bytes.empty()) bytes = space_marker;
    bool all_bytes = true;
    for (const char ch : bytes) all_bytes = all_bytes && byte_tokens_[static_cast<unsigned char>(ch)] != no_token;
    if (all_bytes) {
      for (const char ch : bytes) symbols.push_back(byte_tokens_[static_cast<unsigned char>(ch)]);
      return;
    }
    if (vocab_.unknown == no_token) {
      throw error(error_category::format, "the text has a character the vocabulary cannot encode and there is no unknown token");
    }
    // Consecutive unknown characters fuse into one unknown token, as Gemma's tokenizer.json asks.
    if (symbols.empty() || symbols.back() != vocab_.unknown) symbols.push_back(vocab_.unknown);
  }

  static bool is_ascii(std::string_view text) noexcept {
    for (const char ch : text) {
      if (static_cast<unsigned char>(ch) >= 0x80) return false;
    }
    return true;
  }

  vocabulary vocab_;
  std::unordered_map<std::string, token_id> piece_ids_;
  std::vector<token_id> bmp_char_ids_;                       // one-character pieces below U+10000
  std::unordered_map<char32_t, token_id> single_char_ids_;  // and above
  std::array<token_id, 256> byte_tokens_{};
  bpe_merges merges_;
  added_token_matcher added_;
  byte_level_map bytes_;
  std::shared_ptr<const unicode_9_nfc> nfc_;
};

}  // namespace strix::text
