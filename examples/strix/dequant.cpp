// strix dequant FILE TENSOR --out F: the whole tensor as raw little-endian f32, row-major as
// stored, written row by row (a 2.7 GB embedding never sits in memory twice).
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <strix/core/bf16.hpp>
#include <strix/core/f16.hpp>
#include <strix/quant/formats.hpp>
#include <strix/quant/quantized_view.hpp>

#include "commands.hpp"
#include "weight_file.hpp"

namespace strix::tool {
namespace {

class f32_sink {
 public:
  explicit f32_sink(const std::string& path) : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
    if (!out_) throw error(error_category::io, path + ": cannot open for writing");
  }
  void write(std::span<const float> values) {
    out_.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size_bytes()));
    if (!out_) throw error(error_category::io, path_ + ": write failed");
  }

 private:
  std::string path_;
  std::ofstream out_;
};

void dequant_gguf(const gguf_file& file, const std::string& name, f32_sink& sink) {
  const auto& info = file.tensor(name);
  const std::string context = file.source() + ": tensor '" + name + "'";
  visit_format(info.type, [&]<class Format>() {
    const quantized_view<Format> view(file.tensor_data(info), info.row_count(), info.ne[0], context);
    std::vector<float> row(info.ne[0]);
    for (std::size_t r = 0; r < view.rows(); ++r) {
      view.dequantize_row(r, row);
      sink.write(row);
    }
  }, context);
}

template <class T, class Convert>
void convert_elements(std::span<const std::byte> bytes, f32_sink& sink, Convert convert) {
  std::vector<float> chunk;
  constexpr std::size_t chunk_elements = 1 << 16;
  const std::size_t n = bytes.size() / sizeof(T);
  for (std::size_t begin = 0; begin < n; begin += chunk_elements) {
    const std::size_t count = std::min(chunk_elements, n - begin);
    chunk.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      T v;
      std::memcpy(&v, bytes.data() + (begin + i) * sizeof(T), sizeof(T));
      chunk[i] = convert(v);
    }
    sink.write(chunk);
  }
}

void dequant_safetensors(const safetensors_checkpoint& checkpoint, const std::string& name, f32_sink& sink) {
  const auto t = checkpoint.at(name);
  const auto bytes = t.data();
  const auto as_float = [](auto v) { return static_cast<float>(v); };
  switch (t.info->dtype) {
    case safetensors_dtype::f32: convert_elements<float>(bytes, sink, as_float); break;
    case safetensors_dtype::f16: convert_elements<f16>(bytes, sink, [](f16 v) { return v.to_float(); }); break;
    case safetensors_dtype::bf16: convert_elements<bf16>(bytes, sink, [](bf16 v) { return v.to_float(); }); break;
    case safetensors_dtype::i64: convert_elements<std::int64_t>(bytes, sink, as_float); break;
    case safetensors_dtype::i32: convert_elements<std::int32_t>(bytes, sink, as_float); break;
    case safetensors_dtype::i8: convert_elements<std::int8_t>(bytes, sink, as_float); break;
    case safetensors_dtype::u8: convert_elements<std::uint8_t>(bytes, sink, as_float); break;
    case safetensors_dtype::boolean: convert_elements<std::uint8_t>(bytes, sink, [](std::uint8_t v) { return v != 0 ? 1.0f : 0.0f; }); break;
  }
}

}  // namespace

void add_dequant_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("dequant", "Write one tensor as raw little-endian f32, row-major as stored");
  struct options {
    std::string path;
    std::string tensor;
    std::string out;
  };
  auto opts = std::make_shared<options>();
  cmd->add_option("FILE", opts->path, "GGUF file, or safetensors file / index / folder")->required();
  cmd->add_option("TENSOR", opts->tensor, "Tensor name")->required();
  cmd->add_option("--out", opts->out, "Output file")->required();
  cmd->callback([opts] {
    const auto file = open_weight_file(opts->path);
    f32_sink sink(opts->out);
    if (const auto* gguf = std::get_if<gguf_file>(&file)) dequant_gguf(*gguf, opts->tensor, sink);
    else dequant_safetensors(std::get<safetensors_checkpoint>(file), opts->tensor, sink);
  });
}

}  // namespace strix::tool
