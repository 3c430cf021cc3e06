// kv_status: how a cache operation on a sequence ended. Running out of a resource or asking for a
// rollback the cache can no longer make is a status the caller handles, never undefined behaviour.
#pragma once

#include <string_view>

namespace strix {

enum class kv_status { ok, out_of_blocks, too_many_sequences, step_too_large, window_released, rollback_too_deep };

constexpr std::string_view to_string(kv_status status) noexcept {
  switch (status) {
    case kv_status::ok: return "ok";
    case kv_status::out_of_blocks: return "out of KV blocks";
    case kv_status::too_many_sequences: return "too many sequences";
    case kv_status::step_too_large: return "append larger than max_step_tokens";
    case kv_status::window_released: return "sliding-window positions already released";
    case kv_status::rollback_too_deep: return "rollback deeper than max_rollback";
  }
  return "unknown";
}

}  // namespace strix
