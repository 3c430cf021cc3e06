// strix inspect FILE [--json] [--full-arrays]: format, architecture, metadata and the tensor table
// (name, type, shape, bytes) of a GGUF file or a safetensors checkpoint.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "weight_file.hpp"

namespace strix::tool {
namespace {

constexpr std::size_t array_preview = 8;

std::string human_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return text;
}

template <class Range>
std::string shape_text(const Range& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

nlohmann::json scalar_json(const gguf_value& v) {
  switch (v.type()) {
    case gguf_type::u8: return v.as<std::uint8_t>();
    case gguf_type::i8: return v.as<std::int8_t>();
    case gguf_type::u16: return v.as<std::uint16_t>();
    case gguf_type::i16: return v.as<std::int16_t>();
    case gguf_type::u32: return v.as<std::uint32_t>();
    case gguf_type::i32: return v.as<std::int32_t>();
    case gguf_type::u64: return v.as<std::uint64_t>();
    case gguf_type::i64: return v.as<std::int64_t>();
    case gguf_type::f32: return v.as<float>();
    case gguf_type::f64: return v.as<double>();
    case gguf_type::boolean: return v.as<bool>();
    case gguf_type::string: return v.as_string();
    case gguf_type::array: break;
  }
  return nullptr;
}

template <class T>
nlohmann::json elements_json(std::span<const T> elements, std::size_t limit) {
  auto out = nlohmann::json::array();
  for (std::size_t i = 0; i < std::min(limit, elements.size()); ++i) out.push_back(elements[i]);
  return out;
}

// Arrays longer than the preview (a tokenizer's 262144 tokens) are summarised unless asked for.
nlohmann::json value_json(const gguf_value& v, bool full_arrays) {
  if (!v.is_array()) return scalar_json(v);
  const std::size_t limit = full_arrays ? v.size() : array_preview;
  nlohmann::json elements;
  switch (v.element_type()) {
    case gguf_type::string: elements = elements_json(v.as_strings(), limit); break;
    case gguf_type::array: {
      elements = nlohmann::json::array();
      for (std::size_t i = 0; i < std::min(limit, v.size()); ++i) elements.push_back(value_json(v.as_arrays()[i], full_arrays));
      break;
    }
    case gguf_type::u8: elements = elements_json(v.as_array<std::uint8_t>(), limit); break;
    case gguf_type::i8: elements = elements_json(v.as_array<std::int8_t>(), limit); break;
    case gguf_type::u16: elements = elements_json(v.as_array<std::uint16_t>(), limit); break;
    case gguf_type::i16: elements = elements_json(v.as_array<std::int16_t>(), limit); break;
    case gguf_type::u32: elements = elements_json(v.as_array<std::uint32_t>(), limit); break;
    case gguf_type::i32: elements = elements_json(v.as_array<std::int32_t>(), limit); break;
    case gguf_type::u64: elements = elements_json(v.as_array<std::uint64_t>(), limit); break;
    case gguf_type::i64: elements = elements_json(v.as_array<std::int64_t>(), limit); break;
    case gguf_type::f32: elements = elements_json(v.as_array<float>(), limit); break;
    case gguf_type::f64: elements = elements_json(v.as_array<double>(), limit); break;
    case gguf_type::boolean: elements = elements_json(v.as_array<bool>(), limit); break;
  }
  if (limit >= v.size()) return elements;
  return {{"element_type", std::string(to_string(v.element_type()))}, {"length", v.size()}, {"head", elements}};
}

struct tensor_row {
  std::string name;
  std::string type;
  std::vector<std::uint64_t> shape;
  std::uint64_t offset;
  std::uint64_t bytes;
};

void print_table(const std::vector<tensor_row>& rows) {
  std::size_t name_width = 4;
  for (const auto& r : rows) name_width = std::max(name_width, r.name.size());
  std::printf("  %-*s  %-7s  %-24s  %s\n", static_cast<int>(name_width), "name", "type", "shape", "bytes");
  for (const auto& r : rows) {
    std::printf("  %-*s  %-7s  %-24s  %llu\n", static_cast<int>(name_width), r.name.c_str(), r.type.c_str(),
                shape_text(r.shape).c_str(), static_cast<unsigned long long>(r.bytes));
  }
}

void inspect_gguf(const gguf_file& file, bool json, bool full_arrays) {
  std::vector<tensor_row> rows;
  std::uint64_t total = 0;
  for (const auto& t : file.tensors()) {
    rows.push_back({t.name, std::string(name_of(t.type)), {t.ne.begin(), t.ne.begin() + t.n_dims}, t.offset, t.size_bytes});
    total += t.size_bytes;
  }
  const gguf_value* arch = file.find("general.architecture");
  const std::string architecture = arch != nullptr && arch->type() == gguf_type::string ? arch->as_string() : "";
  if (json) {
    nlohmann::json out{{"file", file.source()}, {"format", "gguf"}, {"version", file.version()},
                       {"alignment", file.alignment()}, {"data_offset", file.data_offset()},
                       {"architecture", architecture}, {"tensor_bytes", total}};
    auto& metadata = out["metadata"] = nlohmann::json::object();
    for (const auto& [key, value] : file.metadata()) metadata[key] = value_json(value, full_arrays);
    auto& tensors = out["tensors"] = nlohmann::json::array();
    for (const auto& r : rows) tensors.push_back({{"name", r.name}, {"type", r.type}, {"shape", r.shape}, {"offset", r.offset}, {"bytes", r.bytes}});
    std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  std::printf("file: %s\nformat: GGUF v%u (alignment %u, data at byte %llu)\narchitecture: %s\n", file.source().c_str(),
              file.version(), file.alignment(), static_cast<unsigned long long>(file.data_offset()),
              architecture.empty() ? "(none)" : architecture.c_str());
  std::printf("metadata (%zu keys):\n", file.metadata().size());
  for (const auto& [key, value] : file.metadata()) std::printf("  %s = %s\n", key.c_str(), value.describe(array_preview).c_str());
  std::printf("tensors (%zu, %s), shape as GGUF ne (row length first):\n", rows.size(), human_bytes(total).c_str());
  print_table(rows);
}

void inspect_safetensors(const safetensors_checkpoint& checkpoint, const std::string& path, bool json) {
  std::vector<tensor_row> rows;
  std::uint64_t total = 0;
  for (const auto& name : checkpoint.tensor_names()) {
    const auto t = checkpoint.at(name);
    rows.push_back({name, std::string(traits_of(t.info->dtype).name), t.info->shape, t.info->begin, t.info->size_bytes()});
    total += t.info->size_bytes();
  }
  if (json) {
    nlohmann::json out{{"file", path}, {"format", "safetensors"}, {"shards", checkpoint.shards().size()}, {"tensor_bytes", total}};
    auto& metadata = out["metadata"] = nlohmann::json::object();
    for (const auto& shard : checkpoint.shards()) {
      for (const auto& [k, v] : shard->metadata()) metadata[k] = v;
    }
    auto& tensors = out["tensors"] = nlohmann::json::array();
    for (const auto& r : rows) tensors.push_back({{"name", r.name}, {"type", r.type}, {"shape", r.shape}, {"offset", r.offset}, {"bytes", r.bytes}});
    std::puts(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return;
  }
  std::printf("file: %s\nformat: safetensors (%zu shard%s)\n", path.c_str(), checkpoint.shards().size(),
              checkpoint.shards().size() == 1 ? "" : "s");
  for (const auto& shard : checkpoint.shards()) {
    for (const auto& [k, v] : shard->metadata()) std::printf("  %s = %s\n", k.c_str(), v.c_str());
  }
  std::printf("tensors (%zu, %s), shape outermost first:\n", rows.size(), human_bytes(total).c_str());
  print_table(rows);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Show a model file's format, metadata and tensor table");
  struct options {
    std::string path;
    bool json = false;
    bool full_arrays = false;
  };
  auto opts = std::make_shared<options>();
  cmd->add_option("FILE", opts->path, "GGUF file, or safetensors file / index / folder")->required();
  cmd->add_flag("--json", opts->json, "One JSON object instead of text");
  cmd->add_flag("--full-arrays", opts->full_arrays, "With --json, print every element of long metadata arrays");
  cmd->callback([opts] {
    const auto file = open_weight_file(opts->path);
    if (const auto* gguf = std::get_if<gguf_file>(&file)) inspect_gguf(*gguf, opts->json, opts->full_arrays);
    else inspect_safetensors(std::get<safetensors_checkpoint>(file), opts->path, opts->json);
  });
}

}  // namespace strix::tool
