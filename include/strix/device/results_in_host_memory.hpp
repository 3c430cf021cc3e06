// results_in_host_memory: the host-access part of device_policy (concepts.hpp) for a policy whose
// calls return with their results in the host memory the views name (reference, zen5): there is
// nothing to hand back, wait for or forget.
#pragma once

#include <span>

namespace strix {

struct results_in_host_memory {
  void host_access(std::span<const float>) const noexcept {}
  void synchronize() const noexcept {}
  void discard_activations() const noexcept {}
};

}  // namespace strix
