// libFuzzer: any bytes either parse as safetensors, with every tensor inside the input, or throw
// strix::error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <strix/io/safetensors_reader.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto file = strix::safetensors_file::parse(bytes, "fuzz.safetensors");
    for (const auto& t : file.tensors()) {
      const auto payload = file.tensor_data(t);
      if (payload.data() + payload.size() > bytes.data() + bytes.size()) std::abort();
    }
  } catch (const strix::error&) {
  }
  return 0;
}
