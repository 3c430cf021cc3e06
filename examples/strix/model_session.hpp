// The model a tool command runs: options shared by logits, generate and chat, a one-sequence
// session over any supported architecture (Gemma 4 GGUF or folder, Qwen3.5 folder), and the
// device policy chosen on the command line.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>
#include <strix/device/reference/reference.hpp>
#ifndef STRIX_TOOL_HIP
#define STRIX_TOOL_HIP 0
#endif
#if STRIX_TOOL_HIP
#include <strix/device/hip/hip.hpp>
#endif
#if STRIX_TOOL_ZEN5
#include <strix/device/zen5/zen5.hpp>
#endif
#include <strix/quant/kv_type.hpp>

#include "models/gemma4.hpp"
#include "models/model_files.hpp"
#include "models/model_vocabulary.hpp"
#include "models/hf_tensors.hpp"
#include "models/memory_plan.hpp"
#include "models/prefault.hpp"
#include "models/presets.hpp"
#include "models/qwen35.hpp"
#include "models/qwen35_gguf.hpp"
#include "models/random_weights.hpp"
#include "models/sequence_runner.hpp"
#include "models/system_memory.hpp"

namespace strix::tool {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double per_second(std::size_t count, double seconds) { return static_cast<double>(count) / std::max(seconds, 1e-9); }

// Windows of released Gemma 4 models (512, 1024), of the shipped tiny chat model (128) and of the
// tiny test models (8, 16).
template <class Device>
using gemma4_model = models::gemma4<Device, 8, 16, 128, 512, 1024>;

// The device policies in this build of the tool: reference always; zen5 and hip when built in
// (STRIX_TOOL_ZEN5; STRIX_TOOL_HIP, which -DSTRIX_GPU=cuda|hip sets and compiles the tool as that
// language).
inline std::vector<std::string> device_names() {
  std::vector<std::string> names{"reference"};
  if (STRIX_TOOL_ZEN5) names.emplace_back("zen5");
  if (STRIX_TOOL_HIP) names.emplace_back("hip");
  return names;
}

inline CLI::Option* add_device_option(CLI::App& cmd, std::string& device, const std::string& what = "device policy") {
  std::string names;
  for (const std::string& n : device_names()) names += (names.empty() ? "" : ", ") + n;
  return cmd.add_option("--device", device, what + ": " + names)->check(CLI::IsMember(device_names()));
}

struct run_options {
  std::string model;
  std::string device = STRIX_TOOL_ZEN5 ? "zen5" : "reference";
  unsigned threads = 0;
  std::string kv = "f16";
  std::size_t chunk = 512;
  std::string budget;  // memory the model may use in all (weights, KV, state, scratch); empty: MemAvailable
};

inline void add_run_options(CLI::App& cmd, run_options& o) {
  cmd.add_option("--model", o.model, "GGUF file or Hugging Face folder")->required();
  add_device_option(cmd, o.device);
  cmd.add_option("-t,--threads", o.threads, "threads for zen5 (default: all)");
  cmd.add_option("--kv-type", o.kv, "KV cache type: f32, f16, bf16, q8_0, q4_0");
  cmd.add_option("--chunk", o.chunk, "prefill chunk (tokens per step)")->check(CLI::PositiveNumber);
  cmd.add_option("--budget", o.budget, "refuse to load beyond this much memory in all (16G, 512MiB, bytes)");
}

// A model and a one-sequence cache sized for `context` tokens, whatever the architecture.
template <class Device>
class model_session {
 public:
  virtual ~model_session() = default;
  [[nodiscard]] virtual std::size_t vocab() const = 0;
  // Runs `tokens` in chunks; returns the logits of every row (all_rows) or of the last one.
  virtual std::vector<float> run(Device& dev, std::span<const std::int32_t> tokens, bool all_rows) = 0;
  // Tokens in the cache.
  [[nodiscard]] virtual std::size_t length() const = 0;
  // Forgets all but the first `length` tokens: exactly where the cache can roll back, else by
  // starting the sequence afresh (the caller then re-feeds the kept tokens).
  // Returns the length actually kept (`length` or 0).
  virtual std::size_t truncate(std::size_t length) = 0;
  // Keeps exactly `length` tokens, or returns false and changes nothing.
  [[nodiscard]] virtual bool try_truncate(std::size_t length) = 0;
};

template <class Device, class Model, class Cache>
class session_of final : public model_session<Device> {
 public:
  session_of(Model model, Cache cache, std::size_t chunk) : runner_(std::move(model), std::move(cache), chunk) {}
  [[nodiscard]] std::size_t vocab() const override { return runner_.vocab(); }
  std::vector<float> run(Device& dev, std::span<const std::int32_t> tokens, bool all_rows) override {
    return runner_.run(dev, tokens, all_rows);
  }
  [[nodiscard]] std::size_t length() const override { return runner_.length(); }
  std::size_t truncate(std::size_t length) override { return runner_.truncate(length); }
  [[nodiscard]] bool try_truncate(std::size_t length) override { return runner_.try_truncate(length); }

 private:
  models::sequence_runner<Device, Model, Cache> runner_;
};

// The weights, brought into memory with a progress line on stderr when they are large.
template <class Weights>
Weights loaded(const std::string& path, Weights weights) {
  std::vector<std::span<const std::byte>> ranges;
  weights.for_each_tensor([&](const weight_matrix& m) { ranges.push_back(m.bytes()); }, [](const std::vector<float>&) {});
  std::uint64_t total = 0;
  for (const auto& r : ranges) total += r.size();
  if (total < (std::uint64_t{256} << 20)) return weights;
  models::prefault(ranges, [&](std::uint64_t done, std::uint64_t all) {
    std::fprintf(stderr, "\rloading %s: %3d %% (%.2f / %.2f GB)", path.c_str(), static_cast<int>(done * 100 / all),
                 static_cast<double>(done) / 1e9, static_cast<double>(all) / 1e9);
    if (done == all) std::fprintf(stderr, "\n");
  });
  return weights;
}

// A model's config and where its weights come from (a file, a folder, or random weights at a
// preset's shapes), before anything is loaded.
struct model_spec {
  std::string name;  // the path, or the preset and weight type
  std::variant<models::gemma4_config, models::qwen35_config> config;
  std::shared_ptr<const models::weight_source> source;
  std::optional<models::weight_scheme> scheme;  // random weights: the types they are made in

  // A census of this model's tensors, typed as the file or the scheme says.
  [[nodiscard]] models::weight_census census() const {
    return scheme ? models::weight_census(source->naming(), *scheme) : models::weight_census(*source);
  }
};

// A GGUF file (gemma4, qwen35 or qwen35moe) or a Hugging Face folder (Gemma 4 or Qwen3.5).
model_spec open_model(const std::string& path);

// A preset's config with `source` (a weight_census to plan, random_weights to run).
std::variant<models::gemma4_config, models::qwen35_config> preset_config(const models::model_preset& preset);

// A named preset, or the shapes of a config.json (the file or the folder holding one).
models::model_preset find_shape(const std::string& shape);

// Random weights at the shapes of a preset (gemma4-e4b, ...) or of a config.json.
model_spec random_model(const std::string& shape, const std::string& weight_type);

// The memory plan of a model, from `census` (over its source, or over a preset's scheme).
models::memory_plan plan_model(const std::variant<models::gemma4_config, models::qwen35_config>& config, models::weight_census& census,
                                 const models::plan_options& options);

inline models::plan_options plan_options_for(const run_options& o, std::size_t context, std::size_t max_rollback) {
  return {context, 1, parse_kv_type(o.kv), o.chunk, max_rollback, o.device == "zen5"};
}

// 8.88e9 → "8.88 B", 240124 → "0.24 M".
std::string count_text(std::uint64_t count);

// "24G", "512MiB", "1.5T", "8000000000": binary units (K, M, G, T = 2^10, 2^20, 2^30, 2^40 bytes).
std::uint64_t parse_bytes(const std::string& text);

// 1536 → "1.50 KiB": binary units, two decimals.
std::string size_text(std::uint64_t bytes);

// Why a plan does not fit `limit` bytes of `what` (empty when it fits): the numbers, and the
// largest context that would.
std::string misfit(const std::string& name, const models::memory_plan& plan, std::uint64_t needed, std::uint64_t limit,
                   std::uint64_t fixed_beyond_limit, const std::string& what);

// Refuses, before loading, a model whose plan does not fit: the whole of it beyond --budget; its
// private memory (KV, state, scratch, f32 copies) beyond MemAvailable, or beyond the commit
// headroom under strict overcommit. Mapped weights beyond MemAvailable only warn: they still
// run, re-reading pages from the file.
void check_fits(const std::string& name, const models::memory_plan& plan, const models::system_memory& memory, const std::string& budget);

// Loads the model of `spec` and makes its cache (`kv_bytes` of KV), then returns f(model, cache)
// with their concrete types (f may move them; it must return the same type for every model).
template <class Device, class F>
auto with_model(const model_spec& spec, const kv_cache_options& options, std::uint64_t kv_bytes, F&& f) {
  // The visitor's return type is spelled out: deducing it, clang 19 instantiates f in an
  // unevaluated context and then never emits the virtual functions of the classes f creates
  // (session_of, model_sequence_drafter: undefined references at link time).
  using result = std::invoke_result_t<F&, gemma4_model<Device>&, paged_kv_cache&>;
  // Random weights are made in memory: there is nothing to bring in.
  auto resident = [&](auto weights) { return spec.scheme ? std::move(weights) : loaded(spec.name, std::move(weights)); };
  return std::visit([&](const auto& config) -> result {
    using config_type = std::decay_t<decltype(config)>;
    if constexpr (std::is_same_v<config_type, models::qwen35_config>) {
      models::qwen35<Device> model(config, resident(models::qwen35_weights::load(*spec.source, config)));
      models::qwen35_cache cache(config, options, kv_bytes);
      return f(model, cache);
    } else {
      gemma4_model<Device> model(config, resident(models::gemma4_weights::load(*spec.source, config)));
      paged_kv_cache cache(model.cache_layout(options), kv_bytes);
      return f(model, cache);
    }
  }, spec.config);
}

// `max_rollback`: how far past its newest append the cache must be able to truncate exactly (the
// longest speculative draft + 1). The plan is checked against the machine's memory first.
template <class Device>
std::unique_ptr<model_session<Device>> open_session(const model_spec& spec, const run_options& o, std::size_t context, std::size_t max_rollback = 0) {
  const models::plan_options planned = plan_options_for(o, context, max_rollback);
  models::weight_census census = spec.census();
  const models::memory_plan plan = plan_model(spec.config, census, planned);
  check_fits(spec.name, plan, models::system_memory::read(), o.budget);
  const kv_cache_options options{planned.kv, 16, 1, o.chunk, max_rollback};
  return with_model<Device>(spec, options, plan.kv_bytes, [&](auto& model, auto& cache) -> std::unique_ptr<model_session<Device>> {
    using model_type = std::decay_t<decltype(model)>;
    using cache_type = std::decay_t<decltype(cache)>;
    return std::make_unique<session_of<Device, model_type, cache_type>>(std::move(model), std::move(cache), o.chunk);
  });
}

// Refuses a draft model whose tokenizer differs from the target's (same ids must mean the same
// text), naming the first difference. Without a tokenizer on either side only the vocabulary
// sizes can be compared (spec::check_compatible, once both are loaded).
void check_same_tokenizer(const std::vector<std::string>* target_pieces, const std::string& draft_path);

template <class Device>
std::unique_ptr<model_session<Device>> open_session(const run_options& o, std::size_t context, std::size_t max_rollback = 0) {
  return open_session<Device>(open_model(o.model), o, context, max_rollback);
}

// Compiled once, in model_session.cpp: every command that opens a session would otherwise compile
// every model for every policy again (minutes per file with the sanitizers on).
extern template std::unique_ptr<model_session<reference>> open_session<reference>(const model_spec&, const run_options&, std::size_t, std::size_t);
#if STRIX_TOOL_ZEN5
extern template std::unique_ptr<model_session<zen5>> open_session<zen5>(const model_spec&, const run_options&, std::size_t, std::size_t);
#endif
#if STRIX_TOOL_HIP
extern template std::unique_ptr<model_session<hip_device>> open_session<hip_device>(const model_spec&, const run_options&, std::size_t, std::size_t);
#endif

// Calls f(device) with the chosen policy.
template <class F>
void with_device(const run_options& o, F&& f) {
  if (o.device == "reference") {
    reference dev;
    f(dev);
    return;
  }
#if STRIX_TOOL_HIP
  if (o.device == "hip") {
    // The models announce their host accesses, so results may stay on the GPU between calls.
    hip_device dev(hip_options{.resident_activations = true});
    std::fprintf(stderr, "hip: %s%s\n", dev.memory_mode_reason().c_str(),
                 dev.resident_activations() ? "; results stay on the GPU between calls" : "");
    f(dev);
    if (dev.refused_bytes() != 0) {
      std::fprintf(stderr, "hip: %.2f GB of model files could not be registered with the GPU (%s); their weights were uploaded instead\n",
                   static_cast<double>(dev.refused_bytes()) / 1e9, dev.refusal().c_str());
    }
    return;
  }
#endif
#if STRIX_TOOL_ZEN5
  thread_pool pool(o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency()));
  zen5 dev(pool);
  f(dev);
#else
  throw error(error_category::unsupported, "this strix was built without the zen5 policy (STRIX_TOOL_ZEN5=OFF); use --device reference");
#endif
}


}  // namespace strix::tool
