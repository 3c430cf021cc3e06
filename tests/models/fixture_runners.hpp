// The transformers fixture models of tests/data opened as one-sequence runners with f32 caches:
// what the model tests and the speculative-decoding tests share.
#pragma once

#include <filesystem>
#include <string>

#include <strix/kv/paged_kv_cache.hpp>

#include "models/gemma4.hpp"
#include "models/model_files.hpp"
#include "models/qwen35.hpp"
#include "models/sequence_runner.hpp"
#include "test_data.hpp"

namespace strix::testing {

template <class Device>
using tiny_gemma4 = models::gemma4<Device, 8, 16>;
template <class Device>
using gemma4_runner = models::sequence_runner<Device, tiny_gemma4<Device>, paged_kv_cache>;
template <class Device>
using qwen35_runner = models::sequence_runner<Device, models::qwen35<Device>, models::qwen35_cache>;

// The Gemma 4 model at `model_path` (a fixture folder or a GGUF file), room for `context` tokens,
// truncate reaching `max_rollback` past the newest append.
template <class Device>
gemma4_runner<Device> open_gemma4_runner(const std::filesystem::path& model_path, std::size_t max_rollback = 0, std::size_t context = 128) {
  models::gemma4_files files = models::open_gemma4(model_path);
  models::gemma4_weights weights = models::gemma4_weights::load(*files.source, files.config);
  tiny_gemma4<Device> model(std::move(files.config), std::move(weights));
  const kv_layout layout = model.cache_layout({kv_type::f32, 16, 1, 64, max_rollback});
  return {std::move(model), paged_kv_cache(layout, layout.budget_for_context(context)), 64};
}

// The Qwen3.5 model at `model_path` (a fixture folder or a GGUF file), room for `context` tokens.
template <class Device>
qwen35_runner<Device> open_qwen35_runner(const std::filesystem::path& model_path, std::size_t max_rollback, std::size_t context = 160) {
  models::qwen35_files files = models::open_qwen35(model_path);
  models::qwen35_weights weights = models::qwen35_weights::load(*files.source, files.config);
  const kv_cache_options options{kv_type::f32, 16, 1, 128, max_rollback};
  models::qwen35_cache cache(files.config, options, models::qwen35_cache::layout_for(files.config, options).budget_for_context(context));
  return {models::qwen35<Device>(std::move(files.config), std::move(weights)), std::move(cache), 128};
}

}  // namespace strix::testing
