// streaming_decoder: turns generated ids into printable text one token at a time without ever
// emitting half a UTF-8 character (a byte-fallback or byte-level token may carry only part of
// one); finish() returns whatever is left.
#pragma once

#include <string>
#include <utility>

#include <strix/text/tokenizer.hpp>
#include <strix/text/utf8.hpp>

namespace strix::text {

class streaming_decoder {
 public:
  explicit streaming_decoder(const tokenizer& tok, bool skip_control = true) : tok_(&tok), skip_control_(skip_control) {}

  // The text that became complete with `id` (possibly empty).
  [[nodiscard]] std::string push(token_id id) {
    tok_->append_bytes(id, pending_, skip_control_);
    const std::size_t ready = complete_utf8_prefix(pending_);
    std::string out = pending_.substr(0, ready);
    pending_.erase(0, ready);
    return out;
  }

  [[nodiscard]] std::string finish() { return std::exchange(pending_, {}); }

 private:
  const tokenizer* tok_;
  bool skip_control_;
  std::string pending_;
};

}  // namespace strix::text
