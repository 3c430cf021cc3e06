// The zen5 tests run only where the CPU has the instruction sets they were compiled for; elsewhere
// each case is skipped with a warning naming what is missing.
#pragma once

#include <catch2/catch.hpp>

#include <strix/device/zen5/cpu_features.hpp>

namespace strix::testing {

inline bool zen5_cpu_ready() {
  if (missing_zen5_features().empty()) return true;
  WARN("skipped: this CPU lacks " << missing_zen5_features());
  return false;
}

}  // namespace strix::testing
