// libFuzzer: any bytes either parse as GGUF, with every tensor inside the input, or throw
// strix::error. Anything else (a crash, a sanitizer report, another exception) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <strix/io/gguf_reader.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto file = strix::gguf_file::parse(bytes, "fuzz.gguf");
    for (const auto& t : file.tensors()) {
      const auto payload = file.tensor_data(t);
      if (payload.data() + payload.size() > bytes.data() + bytes.size()) std::abort();
    }
    for (const auto& [key, value] : file.metadata()) (void)value.describe();
  } catch (const strix::error&) {
  }
  return 0;
}
