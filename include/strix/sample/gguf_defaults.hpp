// The sampling settings a model's publisher recommends, from GGUF's general.sampling.* keys
// (llama.cpp names); keys that are absent leave the given defaults alone.
#pragma once

#include <strix/io/gguf_reader.hpp>
#include <strix/sample/sampler.hpp>

namespace strix::sample {

inline sampling_params with_gguf_defaults(const gguf_file& file, sampling_params p) {
  const auto number = [&](const char* key) -> const gguf_value* {
    const gguf_value* v = file.find(key);
    return v != nullptr && !v->is_array() && v->type() != gguf_type::string ? v : nullptr;
  };
  const auto real = [](const gguf_value& v) {
    if (v.holds<float>()) return v.as<float>();
    if (v.holds<double>()) return static_cast<float>(v.as<double>());
    return static_cast<float>(v.as_integer());
  };
  if (const auto* v = number("general.sampling.temp")) p.temperature = real(*v);
  if (const auto* v = number("general.sampling.top_k")) p.top_k = static_cast<std::size_t>(std::max<std::int64_t>(0, v->as_integer()));
  if (const auto* v = number("general.sampling.top_p")) p.top_p = real(*v);
  if (const auto* v = number("general.sampling.min_p")) p.min_p = real(*v);
  if (const auto* v = number("general.sampling.penalty_repeat")) p.repetition_penalty = real(*v);
  if (const auto* v = number("general.sampling.penalty_last_n")) {
    p.penalty_window = static_cast<std::size_t>(std::max<std::int64_t>(0, v->as_integer()));
  }
  p.validate();
  return p;
}

}  // namespace strix::sample
