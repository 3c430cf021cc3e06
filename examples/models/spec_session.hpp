// A sequence_runner seen as a strix::spec::decoding_session: feed() returns every fed row's
// logits or the last row's, truncate() is exact or refuses. The device travels with it, as the session concept
// knows no devices.
#pragma once

#include <span>
#include <vector>

#include <strix/spec/speculative_decoder.hpp>

#include "models/sequence_runner.hpp"

namespace strix::models {

template <class Device, class Runner>
class spec_session {
 public:
  spec_session(Device& dev, Runner& runner) : dev_(&dev), runner_(&runner) {}

  std::vector<float> feed(std::span<const spec::token_id> tokens, bool all_rows) { return runner_->run(*dev_, tokens, all_rows); }
  [[nodiscard]] std::size_t length() const { return runner_->length(); }
  // Exact when the cache can roll back that far; back to 0 is always possible (a fresh sequence).
  bool truncate(std::size_t length) {
    if (length == 0) return runner_->truncate(0) == 0;
    return runner_->try_truncate(length);
  }
  [[nodiscard]] std::size_t vocab() const { return runner_->vocab(); }

 private:
  Device* dev_;
  Runner* runner_;
};

}  // namespace strix::models
