// What the hip policy's tests share: the memory modes this GPU can be tested in.
#pragma once

#include <vector>

#include <strix/device/hip/hip.hpp>

namespace strix::testing {

// Copied and registered always (a discrete GPU reads registered host memory over the bus); direct
// where the GPU reads pageable host memory (an APU with XNACK, or HMM).
inline std::vector<hip_memory_mode> testable_hip_modes() {
  const hip_device probe;
  if (probe.memory_mode() == hip_memory_mode::direct) return {hip_memory_mode::copied, hip_memory_mode::registered, hip_memory_mode::direct};
  return {hip_memory_mode::copied, hip_memory_mode::registered};
}

}  // namespace strix::testing
