// strix::error: the one exception type the library throws, with a category a caller can branch on
// and a message that names the file, tensor or field at fault. Kernels never throw; loaders and
// planners validate at the edges and throw this.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace strix {

enum class error_category { io, format, shape, memory, unsupported, device };

constexpr std::string_view to_string(error_category category) noexcept {
  switch (category) {
    case error_category::io: return "io";
    case error_category::format: return "format";
    case error_category::shape: return "shape";
    case error_category::memory: return "memory";
    case error_category::unsupported: return "unsupported";
    case error_category::device: return "device";
  }
  return "unknown";
}

class error : public std::runtime_error {
 public:
  error(error_category category, const std::string& message)
      : std::runtime_error(message), category_(category) {}

  [[nodiscard]] error_category category() const noexcept { return category_; }

 private:
  error_category category_;
};

}  // namespace strix
